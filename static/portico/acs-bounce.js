// The ACS bounce: re-post the IdP's form from Portico's own origin so SameSite=Lax cookies come along.
document.getElementById("acs-bounce").submit();
