"""The benchmark script runs and reports every figure (no timing assertions: numbers are for people)."""
from bench.run import main


def test_the_benchmarks_run_and_report_each_figure(capsys):
    results = main(["--iterations", "1"])
    assert set(results) == {"pysaml2_verify", "guard_verify", "pysaml2_tampered", "guard_tampered",
                            "guard_doctype", "config_uncached", "config_cached", "acs_before", "acs_now"}
    assert "candidate/baseline" in capsys.readouterr().out
