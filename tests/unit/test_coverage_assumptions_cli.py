"""Issue 17: a partitioned run (--scheduler, a province) states its assumptions too."""

from __future__ import annotations

from openpyxl import load_workbook


def test_a_partitioned_run_states_its_assumptions(tmp_path):
    from click.testing import CliRunner

    from stationmap.cli import main

    out = tmp_path / "cz"
    res = CliRunner().invoke(main, ["coverage", "320400", "--sample", "--cell", "2000", "--minutes", "12",
                                    "--scheduler", "local", "--workers", "1", "--lang", "en", "--out", str(out)])
    assert res.exit_code == 0, res.output
    wb = load_workbook(out / "figures.xlsx")
    lines = [v for k, v in wb["about"].iter_rows(min_row=2, values_only=True) if k == "assumption"]
    assert lines[2].startswith("Threshold: 12 minutes")
    assert "Cells: 2000 m squares (each district in its own UTM zone)" in lines
    assert lines[-1].startswith("Stations: SAMPLE DATA")
    assert all(f"  {x}" in res.output for x in lines)
    (tmp_path / "people.csv").write_text("lon,lat,weight\n119.95,31.78,10\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["coverage", "320400", "--sample", "--scheduler", "local", "--demand",
                                    str(tmp_path / "people.csv"), "--out", str(out)])
    assert res.exit_code != 0 and "--demand" in res.output
