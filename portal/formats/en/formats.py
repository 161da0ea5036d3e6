"""One date format everywhere: portal pages, e-mails and Django admin (FORMAT_MODULE_PATH).

`e` names the time zone (UTC in every deployment today), so a time is never ambiguous.
"""
DATE_FORMAT = "j M Y"
SHORT_DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i e"
SHORT_DATETIME_FORMAT = "j M Y, H:i e"
TIME_FORMAT = "H:i"
