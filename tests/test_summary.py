"""The run summary page (helpers/summary.py), the index trends, the message catalogues and the
formats (helpers/text): exact figures on a hand-written metrics.json, links that land on real
notebook sections, both languages, no customer id, no model symbol."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import nbformat
import pytest
import yaml

from helpers import config, render, runner, summary
from helpers.text import CATALOGUE_DIR, LANGUAGES, Text, catalogue, placeholders
from helpers.text.formats import MINUS, MONTH_KEYS, Formats

ROOT = Path(__file__).resolve().parents[1]
FAKE_CUSTOMER_ID = "M0099123"
NOTEBOOK_NAMES = ("01_data_audit", "02_lifecycle", "03_repurchase_drivers", "04_clv", "05_tiers",
                  "06_campaign_retrospective")

# A hand-written metrics.json with the keys the notebooks write (values chosen to read exactly).
METRICS = {
    "audit": {
        "status": "warn", "customers_clean": 3026, "orders_clean": 10193, "rows_raw": 10388, "has_amount": True,
        "findings": [
            {"check": "exact_duplicates", "severity": "warn", "rows": 30,
             "message": f"30 exact duplicate order row(s) removed (e.g. customer {FAKE_CUSTOMER_ID})."},
            {"check": "match.orders.customers", "severity": "warn", "rows": 58, "message": "..."},
            {"check": "readiness", "severity": "info", "rows": 1204, "message": "ready"},
        ],
    },
    "lifecycle": {
        "stage_counts": {"active": 259, "new": 125, "returning": 66, "dormant": 605, "churned": 1971},
        "thresholds": {"active_days": 48, "churn_days": 157},
        "revenue_bridge": {"revenue_after": 12000.0, "revenue_before": 11000.0},
    },
    "repurchase": {
        "within_period": 0.312, "within_period_ci": [0.275, 0.351],
        "retention": 0.365, "retention_ci": [0.315, 0.419],
        "second_purchase": {"30": 0.175, "60": 0.239, "90": 0.282},
        "second_purchase_ci": {"30": [0.15, 0.2], "60": [0.21, 0.26], "90": [0.259, 0.307]},
    },
    "drivers": {
        "horizon_days": 90, "biggest_dropoff": "1->2", "model": {"alpha": 0.05},
        "funnel": {"1->2": {"conversion_within_n": 0.292, "ci": [0.275, 0.308], "reached": 3026},
                   "2->3": {"conversion_within_n": 0.583, "ci": [0.554, 0.611], "reached": 1213}},
        "top_levers": ["no_second_coupon_reminder", "region=华南"],
        "effects": {
            "no_second_coupon_reminder": {"effect": -0.073, "ci": [-0.123, -0.024], "action": "fix",
                                          "label": "no reminder for the second-order coupon"},
            "region=华南": {"effect": 0.021, "ci": [0.004, 0.038], "action": None, "label": "region: 华南 (vs 华东)"},
        },
        "not_measured": {"service": "no data on service tickets"},
    },
    "clv": {
        "total": 180621.3, "total_interval": [171782.6, 193006.6], "interval_level": 0.95, "horizon_months": 12,
        "expected_purchases_365": 3595.7, "expected_purchases_365_interval": [3301.2, 3931.8],
        "p_alive_mean": 0.4366, "top10_share": 0.759,
        "model": "mbgnbd", "model_label": "modified BG/NBD", "params": {"r": 0.31, "alpha": 2.0, "a": 0.6, "b": 1.18},
        "reliability": "caution", "time_unit": "week",
        "reliability_checks": {"dropout": "ok", "holdout_total": "caution", "decile_calibration": "ok"},
        "reliability_reasons": ["On the holdout the modified BG/NBD's total was off by -14.3 % (beyond ±10 %)."],
        "holdout": {"total_error": -0.143, "holdout_length": 26.0},
    },
    "tiers": {
        "counts": {"high": 303, "potential": 110, "general": 1403, "low": 1210},
        "clv_share": {"high": 0.759, "potential": 0.043, "general": 0.182, "low": 0.016},
        "tier_uncertain_share": 0.106, "export_split": "optimized", "plan_period": "2025-07", "total_budget": 1000.0,
        "spend": {"optimized": {"high": 477.5, "potential": 0.0, "general": 468.66, "low": 53.84},
                  "rule_of_thumb": {"high": 786.9, "potential": 150.0, "general": 40.0, "low": 10.0}},
        "expected_profit": {"optimized": 5131.5, "rule_of_thumb": 2554.8},
        "expected_profit_range": {"optimized": [1730.9, 8532.1], "rule_of_thumb": [744.8, 4364.8]},
        "roi": {"optimized": 5.1315, "rule_of_thumb": 2.59},
        "actions": {"vip_service": {"customers": 272, "contacts": 540, "budget": 434.1},
                    "automated_winback": {"customers": 788, "contacts": 798, "budget": 124.64}},
        "frequency_cap_days": 14, "illustrative": True, "default_assumptions": ["tiers.budget", "tiers.cost_per_contact"],
        "response_source": "measured", "response_campaign": "spring_winback", "response_period": "2025-05",
    },
    "campaigns": {
        "spring_winback": {
            "status": "read", "customers": 2330, "first_contact": "2025-04-08 10:00:05",
            "window_end": "2025-05-08 13:59:48",
            "lift": {"treatment": {"causal": True, "repurchase_pp_adjusted": 0.0347,
                                   "repurchase_pp_adjusted_ci": [0.0144, 0.0549], "net_profit": 4287.6,
                                   "net_profit_ci": [-387.0, 8962.3], "roi": 0.9145, "roi_ci": [-0.0826, 1.9116]}},
        },
    },
}
PREVIOUS = {
    "audit": {"customers_clean": 2901, "orders_clean": 9664},
    "lifecycle": {"stage_counts": {"active": 298, "dormant": 533}, "revenue_bridge": {"revenue_after": 10000.0}},
    "repurchase": {"within_period": 0.290, "second_purchase": {"30": 0.17, "60": 0.24, "90": 0.287}},
    "drivers": {"horizon_days": 90},
    "clv": {"total": 169419.1},
}


# ---------------------------------------------------------------- fixtures


def executed_copies(run_dir: Path) -> dict:
    """The real notebooks (unexecuted: their markdown headings are what the summary links to)
    rendered into run_dir/html as the runner renders them; returns the manifest's notebooks."""
    entries = {}
    for name in NOTEBOOK_NAMES:
        source = ROOT / "notebooks" / f"{name}.ipynb"
        nb = nbformat.read(source, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
        nb.cells.append(nbformat.v4.new_code_cell(f'print("{FAKE_CUSTOMER_ID}")', metadata={"tags": ["remove"]}))
        target = run_dir / f"{name}.ipynb"
        nbformat.write(nb, target)
        entries[name] = {"status": "ok", "seconds": 1.0, "html": render.render_notebook(target, run_dir / "html")}
    return entries


@pytest.fixture(scope="module")
def rendered_notebooks(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("notebooks_html")
    return folder, executed_copies(folder)


def make_run(root: Path, rendered: tuple[Path, dict], metrics: dict = METRICS, period: str = "2025-06",
             brand: str = "demo", currency: str = "CNY", language: str = "en",
             statuses: dict[str, str] | None = None, run_id: str = "20250701T000000Z") -> tuple[Path, dict]:
    """A run folder outputs/<brand>/<period>/<run_id> with html/, metrics.json and manifest.json."""
    run_dir = root / brand / period / run_id
    (run_dir / "html").mkdir(parents=True)
    source_dir, entries = rendered
    notebooks = copy.deepcopy(entries)
    for name, entry in notebooks.items():
        status = (statuses or {}).get(name[:2], "ok")
        entry["status"] = status
        if status == "ok":
            for page in entry["html"].values():
                shutil.copy(source_dir / page, run_dir / page)
        else:
            entry.pop("html")
    manifest = {"brand": brand, "display_name": "Demo Tea Co.", "period": period, "period_kind": "month",
                "run_id": run_id, "status": "success", "notebooks": notebooks, "language": language,
                "currency": currency, "started_utc": "2025-07-01T00:00:00Z", "seconds": 90.0}
    (run_dir / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    (run_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return run_dir, manifest


def add_latest(root: Path, brand: str, period: str, metrics: dict) -> None:
    run_dir = root / brand / period / "20250601T000000Z"
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    (run_dir / "manifest.json").write_text(json.dumps({"status": "success", "period": period}), encoding="utf-8")
    (root / brand / period / "latest").symlink_to(run_dir.name)


def summary_page(run_dir: Path, manifest: dict, language: str | None = None) -> str:
    render.render_summary(run_dir, manifest, language=language, brand_dir=run_dir.parent.parent)
    return (run_dir / "html" / "summary.html").read_text(encoding="utf-8")


def visible_text(page: str) -> str:
    page = re.sub(r"<style.*?</style>", " ", page, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", page).replace("&#39;", "'").replace("&amp;", "&").split())


@pytest.fixture
def en_page(tmp_path, rendered_notebooks) -> tuple[str, Path]:
    add_latest(tmp_path, "demo", "2025-05", PREVIOUS)
    run_dir, manifest = make_run(tmp_path, rendered_notebooks)
    return summary_page(run_dir, manifest), run_dir


# ---------------------------------------------------------------- the page


def test_headline_figures_with_changes_against_the_previous_period(en_page):
    text = visible_text(en_page[0])
    assert "Repurchase rate" in text
    assert "31.2 % 27.5 % to 35.1 % (95 % interval) vs May 2025 +2.2 pp vs June 2024 no earlier run" in text
    assert "3,026 vs May 2025 +125 vs June 2024 no earlier run" in text  # customers: a count's change
    assert "CNY 12.0k vs May 2025 +20.0 %" in text  # revenue: a sum's change, in per cent
    assert "CNY 180.6k CNY 171.8k to CNY 193.0k (95 % interval) vs May 2025 +6.6 %" in text
    assert "28.2 % 25.9 % to 30.7 % (95 % interval) vs May 2025 " + MINUS + "0.5 pp" in text
    assert "259 plus 125 new and 66 won back this period vs May 2025 " + MINUS + "39" in text
    assert "no purchase for more than 48 days, but not yet 157" in text
    assert "36.5 % 31.5 % to 41.9 % (95 % interval) vs May 2025 not in that run" in text


def test_sections_read_in_plain_words(en_page):
    text = visible_text(en_page[0])
    assert "First to second purchase: the biggest drop-off 29.2 % within 90 days of 3,026 customers" in text
    assert ("Never reminded of the second-order coupon " + MINUS + "7.3 pp " + MINUS + "12.3 pp to "
            + MINUS + "2.4 pp (95 % interval); a problem to fix") in text
    assert "Region: 华南 (compared with 华东) +2.1 pp" in text
    assert "Not measured, for lack of data: service response." in text
    assert "Use with caution" in text
    assert "Tested on 26 weeks held back from the model, its total purchases were off by " + MINUS + "14.3 %." in text
    assert "Purchases in the next 12 months (today's customers) 3,596 3,301 to 3,932 (95 % interval)" in text
    assert "Average chance a customer is still active 43.7 %" in text
    assert "Plan for July 2025" in text
    assert "Illustrative: this plan uses the workbook's default budget, contact costs." in text
    assert "Expected return (profit after the spend) CNY 5,132 CNY 1,731 to CNY 8,532" in text
    assert "Return on spend 513 %" in text  # ROI 5.13 as a per cent
    assert "High value 303 75.9 % CNY 478" in text
    assert "Response to a contact as measured by campaign spring_winback (May 2025)." in text
    assert "It worked: more contacted customers bought again." in text
    assert "+3.5 pp +1.4 pp to +5.5 pp (95 % interval)" in text
    assert "Return on the campaign's costs 91 % " + MINUS + "8 % to 191 % (95 % interval)" in text
    assert "Passed with warnings" in text and "2 warning(s), 0 failure(s)" in text
    assert "Main caveat: 58 rows of the orders have no match in the customers table." in text


def test_no_customer_id_and_no_model_symbols(en_page, tmp_path, rendered_notebooks):
    page, run_dir = en_page
    zh = summary_page(run_dir, json.loads((run_dir / "manifest.json").read_text()), language="zh")
    for html in (page, zh):
        assert FAKE_CUSTOMER_ID not in html
        text = visible_text(html)
        for symbol in ("BG/NBD", "Pareto", "Gamma", "P(alive)", "t_x", "mbgnbd", "RMSE", "holdout", "tiers.budget",
                       "cost_per_contact", "r = ", "alpha"):
            assert symbol not in text, symbol


def test_every_link_lands_on_a_section_heading_of_the_notebook_page(en_page):
    page, run_dir = en_page
    hrefs = set(re.findall(r'href="([^"]+)"', page))
    sections = {h for h in hrefs if "#" in h and not h.startswith("#")}
    assert len(sections) >= 12
    for href in sections:
        target, anchor = href.split("#", 1)
        anchor = anchor.replace("&#39;", "'").replace("&amp;", "&")
        html = (run_dir / "html" / target).read_text(encoding="utf-8")
        assert f' id="{anchor}"' in html, href
    # each of the six notebooks is linked, at the sections the figures come from
    assert {h.split("#")[0] for h in sections} == {f"{n}.html" for n in NOTEBOOK_NAMES}
    assert any(h.startswith("02_lifecycle.html#3.-") for h in sections)
    assert any(h.startswith("04_clv.html#5.-") for h in sections)


def test_chinese_page_formats_money_rates_and_dates(tmp_path, rendered_notebooks):
    add_latest(tmp_path, "demo", "2025-05", PREVIOUS)
    run_dir, manifest = make_run(tmp_path, rendered_notebooks, language="zh")
    page = summary_page(run_dir, manifest)
    text = visible_text(page)
    assert '<html lang="zh-CN">' in page
    assert "本期销售额" in text and "¥1.2万 较2025年5月 +20.0%" in text  # 12,000 CNY
    assert "31.2% 95%区间：27.5%至35.1% 较2025年5月 +2.2个百分点 较2024年6月 无更早的运行" in text
    assert "¥18.1万 95%区间：¥17.2万至¥19.3万" in text
    assert "自2025年4月8日起触达；效果统计至2025年5月8日。" in text
    assert "2025年7月计划" in text
    assert " pp" not in text and " %" not in text  # no English units


def test_partial_run_says_which_sections_did_not_run(tmp_path, rendered_notebooks):
    metrics = {k: METRICS[k] for k in ("audit", "lifecycle", "repurchase")}
    run_dir, manifest = make_run(tmp_path, rendered_notebooks, metrics=metrics,
                                 statuses={"03": "failed", "04": "skipped", "05": "skipped", "06": "skipped"})
    del manifest["notebooks"]["06_campaign_retrospective"]  # --only: not part of the run at all
    text = visible_text(summary_page(run_dir, manifest))
    assert "Partial run: 03 · Repurchase drivers, 04 · Customer lifetime value, 05 · Value tiers and budget, " \
           "06 · Campaign retrospective did not run" in text
    assert "03 · Repurchase drivers stopped with an error in this run" in text
    assert "04 · Customer lifetime value did not run (an earlier report stopped)" in text
    assert "06 · Campaign retrospective was not part of this run" in text
    assert "31.2 %" in text and "vs May 2025 no earlier run" in text


def test_brand_without_amounts_and_without_a_model(tmp_path, rendered_notebooks):
    metrics = copy.deepcopy(METRICS)
    metrics["audit"]["has_amount"] = False
    metrics["lifecycle"]["revenue_bridge"] = None
    metrics["clv"] = {"total": None, "total_interval": [None, None], "reliability": "not computed",
                      "reliability_checks": {"purchase_model": "not computed"}, "expected_purchases_365": None}
    metrics["tiers"] = {"counts": None, "plan_period": "2025-07"}
    run_dir, manifest = make_run(tmp_path, rendered_notebooks, metrics=metrics, currency="")
    text = visible_text(summary_page(run_dir, manifest))
    assert "Money in unspecified currency" in text
    assert "the orders carry no amounts" in text
    assert "Not computed: no forecast could be made" in text
    assert "Too few repeat buyers for a forecast." in text
    assert "No value tiers this run" in text


def test_a_campaign_not_read_yet_shows_its_verdict_and_window(tmp_path, rendered_notebooks):
    metrics = copy.deepcopy(METRICS)
    metrics["campaigns"] = {"june_push": {"status": "too early to read", "customers": 812,
                                          "first_contact": "2025-06-20 09:00:00", "window_end": "2025-07-20 09:00:00"},
                            "no_dates": {"status": "no control group", "customers": 40}}
    run_dir, manifest = make_run(tmp_path, rendered_notebooks, metrics=metrics)
    text = visible_text(summary_page(run_dir, manifest))
    june = text[text.index("june_push"):text.index("no_dates")]
    assert "812" in june and "20 June 2025" in june and "20 July 2025" in june
    assert "no_dates" in text and "40" in text[text.index("no_dates"):]


def test_summary_of_a_real_demo_run_when_one_is_on_disk(tmp_path):
    """The figures of `make demo`'s June run (WORKBOOK_OUTPUTS=/tmp/demo_out) in Chinese."""
    source = Path("/tmp/demo_out/demo/2025-06/latest")
    if not (source / "metrics.json").is_file():
        pytest.skip("no demo run in /tmp/demo_out (WORKBOOK_OUTPUTS=/tmp/demo_out make demo writes one)")
    run_dir = tmp_path / "demo" / "2025-06" / "run"
    shutil.copytree(source / "html", run_dir / "html")
    shutil.copy(source / "metrics.json", run_dir / "metrics.json")
    manifest = json.loads((source / "manifest.json").read_text())
    page = summary_page(run_dir, manifest, language="zh")
    ids = set(__import__("pandas").read_parquet(source / "data" / "customers.parquet")["customer_id"])
    assert not any(i in page for i in ids)
    for href in set(re.findall(r'href="([^"#]+)#([^"]+)"', page)):
        assert f' id="{href[1].replace("&#39;", chr(39))}"' in (run_dir / "html" / href[0]).read_text(), href
    assert "¥18.1万" in visible_text(page)


# ---------------------------------------------------------------- the index


def test_index_shows_trends_and_links_each_runs_summary_first(tmp_path, rendered_notebooks):
    first, _ = make_run(tmp_path, rendered_notebooks, metrics=PREVIOUS, period="2025-05", run_id="20250601T000000Z")
    (first.parent / "latest").symlink_to(first.name)
    second, manifest = make_run(tmp_path, rendered_notebooks, period="2025-06")
    (second.parent / "latest").symlink_to(second.name)
    summary_page(second, manifest)
    records = runner.scan_runs(tmp_path)
    page = render.render_index(records, tmp_path / "index.html").read_text(encoding="utf-8")
    assert "Money in CNY" in page
    assert page.count("<svg") == 9 and page.count("<circle") == 17  # 9 figures x 2 periods, one missing
    assert "<title>May 2025: 29.0 %</title>" in page and "<title>June 2025: 31.2 %</title>" in page
    links = re.findall(r'<a class="[^"]*" href="([^"]+)"', page[page.index('<td class="reports"'):])
    assert links[0] == "demo/2025-06/20250701T000000Z/html/summary.html"  # newest period first, summary first
    assert links[1] == "demo/2025-06/20250701T000000Z/html/01_data_audit.html"
    assert FAKE_CUSTOMER_ID not in page
    zh = render.render_index(records, tmp_path / "index.html", language="zh").read_text(encoding="utf-8")
    assert "金额单位：CNY" in zh and ">摘要<" in zh and "<title>2025年6月：31.2%</title>" in zh


def test_index_language_is_the_one_all_brands_share():
    class Run:
        def __init__(self, language):
            self.manifest = {"language": language, "currency": ""}

    assert render.index_language([Run("zh"), Run("zh")]) == "zh"
    assert render.index_language([Run("zh"), Run("en")]) == "en"
    assert render.index_language([Run("zh")], "en") == "en"


def test_sparkline_breaks_at_a_missing_period():
    chart = render.sparkline([("a", 1.0), ("b", None), ("c", 2.0), ("d", 3.0)])
    assert [d["title"] for d in chart["dots"]] == ["a", "c", "d"]
    assert chart["dots"][0] == {"x": "6.0", "y": "50.0", "title": "a"}  # the lowest value at the bottom
    assert chart["lines"] == ["131.3,28.0 194.0,6.0"]  # 'a' stands alone: b is missing


# ---------------------------------------------------------------- catalogues and formats


def test_catalogues_have_the_same_keys_and_placeholders():
    en, zh = catalogue("en"), catalogue("zh")
    assert set(en) == set(zh)
    differing = {k for k in en if placeholders(en[k]) != placeholders(zh[k])}
    assert differing == {"fmt.month", "fmt.date"}  # month names vs month numbers; both are passed


def _key_pattern(namespaces: set[str]) -> re.Pattern:
    alternatives = "|".join(sorted(namespaces))
    return re.compile(r"""["']((?:""" + alternatives + r""")\.[A-Za-z0-9_.]+)["']""")


def used_keys() -> set[str]:
    # The summary, index and runner also quote metric paths ("clv.total", "audit.status"): there,
    # only the summary's own namespaces (en.yaml) are catalogue keys. The notebooks' sentence and
    # chart modules use every namespace (en.yaml and en/*.yaml).
    every = {k.split(".")[0] for k in catalogue("en")}
    own = set(yaml.safe_load((CATALOGUE_DIR / "en.yaml").read_text(encoding="utf-8")))
    pages = [ROOT / "helpers" / "summary.py", ROOT / "helpers" / "render.py", ROOT / "helpers" / "runner.py",
             *sorted((ROOT / "helpers" / "templates").glob("*.j2"))]
    words = [*sorted((ROOT / "helpers" / "text").glob("*.py")), *sorted((ROOT / "helpers").glob("*plots.py"))]
    found, prefixes = set(), set()
    for path, pattern in [(p, _key_pattern(own)) for p in pages] + [(p, _key_pattern(every)) for p in words]:
        text = path.read_text(encoding="utf-8")
        found |= {k for k in pattern.findall(text) if not k.endswith((".html", ".j2", ".json", ".yaml", ".py"))}
        prefixes |= set(re.findall(r"""_keys\(["']([^"']+)["']""", text))
    # the keys summary derives from value names (its *_KEYS maps), not the prefixes they are built on
    derived = {key for name, keys in vars(summary).items() if name.endswith("_KEYS") for key in keys.values()}
    return (found - prefixes) | derived | set(MONTH_KEYS)


def test_every_key_used_exists_and_every_key_is_used():
    used, keys = used_keys(), set(catalogue("en"))
    assert used - keys == set()
    assert keys - used == set()


# A params key in a sentence ("tiers.budget"), not a sentence ending on a word ("value tiers.").
PARAMS_KEY = re.compile(r"\b(?:clv|tiers|business|cleaning|readiness|drivers|campaigns|lifecycle|report)\.[a-z_]")


def test_catalogues_speak_plainly():
    for language in LANGUAGES:
        for key, message in catalogue(language).items():
            for symbol in ("BG/NBD", "NBD", "Pareto", "Gamma", "P(alive)", "t_x", "RMSE", "holdout"):
                assert symbol not in message, (language, key, symbol)
            assert not PARAMS_KEY.search(message), (language, key, message)


def test_plain_words_check_finds_a_params_key_not_a_sentence_end():
    assert PARAMS_KEY.search("set tiers.budget in the params") and PARAMS_KEY.search("(`clv.time_unit`)")
    assert not PARAMS_KEY.search("Customers fall into four value tiers.") and not PARAMS_KEY.search("tiers. Next")


def test_english_formats():
    f = Formats(Text("en"), "USD")
    assert f.money(1_234_567) == "USD 1.2M"
    assert f.money(180_621.3) == "USD 180.6k"
    assert f.money(999_960) == "USD 1.0M"
    assert f.money(5678.5) == "USD 5,678" and f.money(53.84) == "USD 53.84" and f.money(2e-11) == "USD 0"
    assert f.money(-387.0) == MINUS + "USD 387"
    assert f.share(0.123) == "12.3 %" and f.roi(5.1315) == "513 %"
    assert f.pp(0.021) == "+2.1 pp" and f.pp(-0.0004) == "0.0 pp"  # never -0
    assert f.relative(12000, 10000) == "+20.0 %" and f.relative(1, 0) is None
    assert f.count(-39, plus=True) == MINUS + "39" and f.count(0, plus=True) == "0"
    assert f.interval(f.share(0.275), f.share(0.308), 0.95) == "27.5 % to 30.8 % (95 % interval)"
    assert f.period("2025-06") == "June 2025" and f.period("2025Q2") == "Q2 2025" and f.period("2025-W05") == "week 5 of 2025"
    assert f.date("2025-05-08 13:59:48") == "8 May 2025"
    assert Formats(Text("en"), "").money(1500) == "1,500" and Formats(Text("en"), "").currency_label() == \
        "unspecified currency"


def test_chinese_formats():
    f = Formats(Text("zh"), "CNY")
    assert f.money(12_000) == "¥1.2万"
    assert f.money(150_000_000) == "¥1.5亿"
    assert f.money(99_999_600) == "¥1.0亿"  # not 10,000.0万
    assert f.money(99_996_000) == "¥9,999.6万"
    assert f.money(5678.5) == "¥5,678"
    assert Formats(Text("zh"), "GBP").money(7_947_544) == "£794.8万"
    assert Formats(Text("zh"), "SEK").money(12_000) == "1.2万 SEK"
    assert f.share(0.123) == "12.3%" and f.pp(0.021) == "+2.1个百分点" and f.pp(-0.00001) == "0.0个百分点"
    assert f.count(2_754_821) == "275.5万" and f.count(23_570) == "23,570"
    assert f.interval(f.share(0.275), f.share(0.308), 0.95) == "95%区间：27.5%至30.8%"
    assert f.period("2025-06") == "2025年6月" and f.date("2025-04-08") == "2025年4月8日"
    assert f.currency_label() == "CNY" and Formats(Text("zh")).currency_label() == "未指定币种"


def test_a_change_is_in_points_for_rates_and_in_per_cent_for_sums():
    f = Formats(Text("en"), "CNY")
    by_key = {h.key: h for h in summary.HEADLINES}
    assert summary.change_text(by_key["repurchase"], 0.312, 0.290, f) == "+2.2 pp"
    assert summary.change_text(by_key["revenue"], 12000.0, 10000.0, f) == "+20.0 %"
    assert summary.change_text(by_key["revenue"], 500.0, 0.0, f) == "+CNY 500"
    assert summary.change_text(by_key["customers"], 3026, 2901, f) == "+125"
    assert summary.change_text(by_key["customers"], 3026, None, f) is None


# ---------------------------------------------------------------- params, the command, the charts


def test_report_language_in_params(tmp_path):
    assert config.load_params(brand="demo").report.language == "zh"
    assert config.load_params(brand="cdnow").report.language == "en"
    assert config.load_params(brand="online_retail").report.language == "en"
    base = (ROOT / "params" / "cdnow.yaml").read_text(encoding="utf-8").split("\nreport:")[0]
    path = tmp_path / "cdnow.yaml"
    path.write_text(base + "\n", encoding="utf-8")
    assert config.load_params(path).report.language == "en"  # the default
    path.write_text(base + "\nreport:\n  language: fr\n", encoding="utf-8")
    with pytest.raises(config.ParamsError, match=r"report\.language"):
        config.load_params(path)


def test_language_option_of_the_run_command():
    parser = runner.build_parser()
    assert parser.parse_args(["run", "--brand", "demo", "--language", "zh"]).language == "zh"
    assert parser.parse_args(["run", "--brand", "demo"]).language is None
    assert parser.parse_args(["render-index", "--language", "en"]).language == "en"
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--brand", "demo", "--language", "fr"])


PARAMS_YAML = """\
brand: tiny
display_name: "Tiny"
sources:
  orders:
    - name: orders
      path: data/tiny/orders.csv
      columns: {order_id: id, customer_id: member, order_ts: ts, amount: paid}
business:
  currency: CNY
report:
  language: zh
"""


def test_runner_writes_the_summary_in_the_params_language_or_the_option(tmp_path, monkeypatch):
    """A partial run of one tiny notebook: html/summary.html in Chinese (params), then English
    (--language en), recorded in the manifest, linked first in the index."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_markdown_cell("# 01 · Audit\n\n## 3. From raw to clean"),
                nbformat.v4.new_code_cell('brand = "x"\nperiod = "x"\nrun_dir = ""\nparams_path = ""\nlanguage = ""',
                                          metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell('import json, pathlib\npathlib.Path(run_dir, "metrics.json").write_text('
                                          'json.dumps({"audit": {"status": "pass", "customers_clean": 12000, '
                                          '"orders_clean": 34567}}))')]
    nbformat.write(nb, notebooks / "01_alpha.ipynb")
    params = tmp_path / "tiny.yaml"
    params.write_text(PARAMS_YAML, encoding="utf-8")
    monkeypatch.setenv("WORKBOOK_NOTEBOOKS", str(notebooks))
    monkeypatch.setenv("WORKBOOK_OUTPUTS", str(tmp_path / "outputs"))
    assert runner.main(["run", "--params", str(params), "--period", "2025-05"]) == 0
    assert runner.main(["run", "--params", str(params), "--period", "2025-06", "--language", "en"]) == 0
    may, june = (next((tmp_path / "outputs" / "tiny" / p).glob("2*")) for p in ("2025-05", "2025-06"))
    manifest = json.loads((may / "manifest.json").read_text())
    assert manifest["summary"] == "html/summary.html" and manifest["language"] == "zh"
    text = visible_text((may / "html" / "summary.html").read_text())
    assert "客户数 截至期末至少下过一单的客户 12,000" in text
    assert "本次运行未包含02 · 生命周期与复购" in text
    assert 'href="01_alpha.html#3.-From-raw-to-clean"' in (may / "html" / "summary.html").read_text()
    text = visible_text((june / "html" / "summary.html").read_text())
    assert "12,000 vs May 2025 +0" not in text and "12,000 vs May 2025 0 vs June 2024 no earlier run" in text
    index = (tmp_path / "outputs" / "index.html").read_text()
    assert index.index("tiny/2025-06/") < index.index("html/summary.html") < index.index("html/01_alpha.html")


def test_chinese_chart_labels_have_every_glyph():
    """A chart titled and labelled with the catalogue's Chinese words: no glyph is missing from
    the theme's font (fonts-wqy-microhei, installed in CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    from helpers import plots

    installed = shutil.which("fc-list") and "wqy" in subprocess.run(
        ["fc-list"], capture_output=True, text=True).stdout.lower()
    if not installed:
        pytest.skip("the CJK font WenQuanYi Micro Hei is not installed (apt-get install fonts-wqy-microhei)")
    plots.set_theme("zh")  # registers the font even when matplotlib's font cache predates it
    font_manager.findfont("WenQuanYi Micro Hei", fallback_to_default=False)
    t = Text("zh")
    words = [t("headline.customers"), t("headline.repurchase"), t("tier.high"), t("tier.potential"),
             t("summary.dropoff.step_1_2"), t("fmt.month", year=2025, month=6, month_name="")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # set_theme ignores glyph warnings; here they fail
        fig, ax = plt.subplots()
        ax.bar(words[:4], [3, 1, 4, 1])
        ax.set_title(t("summary.value.title"))
        ax.set_ylabel(t("fmt.pp", value="+2.1"))
        ax.set_xlabel("、".join(words[4:]))
        fig.canvas.draw()
        plt.close(fig)
    plots.set_theme()


def test_catalogue_files_are_where_the_docs_say():
    assert (CATALOGUE_DIR / "en.yaml").is_file() and (CATALOGUE_DIR / "zh.yaml").is_file()
