"""The Airflow UI in a real browser: Debian's headless Chromium (``make browser`` installs it),
driven by Playwright, against the session's ``airflow standalone`` (``tests/e2e/conftest.py``).

A submitter signs in through the Simple Auth Manager's login form, opens the submission DAG's
trigger form (our params must render as fields, with their titles and descriptions), and follows
a dry run's "HTAN report" extra link to the report plugin's pages. A browser that has not signed
in gets no report.

Airflow 3.3's UI, as found in the real pages: an unauthenticated page is sent to
``/auth/login?next=<path>``, whose form (Username, Password, "Sign in") sets the ``_token`` cookie
that the UI and the report plugin read; the DAG page's "Trigger" button opens a dialog whose
fields are named ``element_<param>`` (their labels' ``for`` does not point at them, so a field is
found through its ``role=group`` row); extra links are buttons under "Extra Links" on the task
instance's Details tab.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from htan_submission.dev.demo_batch import build_demo_batch, upload_batch

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("airflow_standalone")]  # one standalone: one worker
CHROMIUM = Path("/usr/bin/chromium")
# Root on a closed network (the machine notes): no sandbox, no GPU, and none of Chromium's own
# background traffic, whose refused connections would stall it. Playwright adds a user-data-dir.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
UI_TIMEOUT_MS = 60_000  # the React UI on a busy 2-core machine, while other tests' runs execute
# The submission DAG's params as the trigger form must show them: title -> (the start of its
# description, the field Airflow renders for the param's type).
PARAM_FIELDS = {
    "Batch location": ("The S3 URI of the batch", "input[name=element_batch]"),
    "Components to include": ("Leave empty for all components", "textarea[name=element_components]"),
    "Transfer mode": ("index: zero-copy from the registered bucket", "input[name=element_transfer_mode]"),
    "Dry run": ("Stop after the report", "input[type=checkbox][name=element_dry_run]"),
    "Note for the liaison": ("Optional free text shown to the data liaison", "input[name=element_note]"),
}


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium and chromium-driver")
    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookie) for each test."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    yield context
    context.close()


@contextmanager
def screenshot_on_failure(page: Page, path: Path) -> Iterator[None]:
    """A failed check (or a Playwright time-out) saves the page to ``path`` and names it."""
    try:
        yield
    except (AssertionError, PlaywrightError) as exc:
        try:
            page.screenshot(path=path, full_page=True)
            where = f"screenshot of the page: {path}"
        except PlaywrightError as shot_error:
            where = f"no screenshot ({shot_error})"
        raise AssertionError(f"{exc}\n{where}") from exc


def log_in(context: BrowserContext, base_url: str, user, path: str, shots: Path) -> Page:
    """Open ``path`` as a stranger, sign in on the login form Airflow sends us to, land on ``path``."""
    page = context.new_page()
    with screenshot_on_failure(page, shots / "login.png"):
        page.goto(base_url + path)
        expect(page).to_have_url(re.compile(r"/auth/login\?next="))
        page.get_by_label("Username").fill(user.name)
        page.get_by_label("Password").fill(user.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: unquote(urlsplit(url).path) == unquote(path))
        assert "_token" in {c["name"] for c in context.cookies()}, "signed in, but no _token cookie"
    return page


def test_the_trigger_form_shows_the_submission_params(airflow, world, context, tmp_path):
    center = world.center
    page = log_in(context, airflow.api.base_url, airflow.admin, f"/dags/{airflow.dag_id}", tmp_path)
    with screenshot_on_failure(page, tmp_path / "trigger-form.png"):
        page.get_by_test_id("trigger-dag-button").click()  # its accessible name is "Trigger Dag"
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text(f"Trigger Dag - {airflow.dag_id}")
        for title, (description, field) in PARAM_FIELDS.items():
            row = dialog.get_by_role("group").filter(has=page.locator("label", has_text=title))
            expect(row, f"one row titled {title!r}").to_have_count(1)
            expect(row).to_contain_text(description)
            expect(row.locator(field), f"the {title!r} field").to_have_count(1)

        batch = dialog.locator("input[name=element_batch]")
        expect(batch).to_have_value(f"s3://{center.bucket}/{center.center.s3.prefix}")
        expect(dialog.locator("input[name=element_transfer_mode]")).to_have_value(center.center.transfer_mode)
        dialog.get_by_label("Transfer mode").click()  # its choices: the param's enum
        expect(page.get_by_role("option")).to_have_text(["index", "copy"])
        page.get_by_role("option", name=center.center.transfer_mode).click()
        dry_run = dialog.get_by_label("Dry run")
        expect(dry_run).not_to_be_checked()

        # Filled in as a submitter would, the form passes the params' own validation; the note is
        # optional (an empty string param that is not nullable would keep the button disabled).
        batch.fill(f"s3://{center.bucket}/batches/browser-form/")
        expect(dialog.locator("input[name=element_note]")).to_have_value("")
        dialog.locator("label[data-part=root]", has=page.locator("input[name=element_dry_run]")).click()  # the switch
        expect(dry_run).to_be_checked()
        expect(dialog.get_by_test_id("trigger-dag-submit")).to_be_enabled()


def test_the_liaison_can_fill_the_review_form_and_approve_without_a_comment(airflow, world, context, tmp_path):
    page = log_in(context, airflow.api.base_url, airflow.liaison, "/dags/htan_liaison_review", tmp_path)
    with screenshot_on_failure(page, tmp_path / "review-form.png"):
        page.get_by_test_id("trigger-dag-button").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("Trigger Dag - htan_liaison_review")
        for title in ("Center", "Submission run id", "Batch location", "Decision", "Comment"):
            expect(dialog.get_by_role("group").filter(has=page.locator("label", has_text=title))).not_to_have_count(0)
        submit = dialog.get_by_test_id("trigger-dag-submit")
        expect(submit).to_be_disabled()  # run id, batch and decision have no default
        dialog.locator("input[name=element_run_id]").fill("manual__2026-11-26T00:00:00+00:00")
        dialog.locator("input[name=element_batch]").fill(f"s3://{world.center.bucket}/batches/b1/")
        dialog.get_by_label("Decision").click()
        expect(page.get_by_role("option")).to_have_text(["approved", "rejected"])
        page.get_by_role("option", name="approved").click()
        expect(dialog.locator("textarea[name=element_comment], input[name=element_comment]")).to_have_value("")
        expect(submit).to_be_enabled()


def test_a_dry_runs_report_link_opens_its_report(airflow, world, context, chromium, tmp_path):
    center, api, dag_id, submitter = world.center, airflow.api, airflow.dag_id, airflow.admin
    root = build_demo_batch(tmp_path / "batch", slide_size=(512, 384))
    for manifest in ("scRNALevel1.csv", "DigitalPathologyData.csv"):  # data file IDs no other run uses:
        path = root / manifest                                           # validation checks them against
        path.write_text(re.sub(r"_D(\d)", r"_D8\1", path.read_text()))  # the ingest folder in Synapse
    url = upload_batch(center.s3, root, center.bucket, f"batches/browser-{uuid.uuid4().hex[:6]}")
    run_id = api.trigger(dag_id, {"batch": url, "dry_run": True, "note": "browser test"}, user=submitter.name)
    assert api.wait_for_run(dag_id, run_id, user=submitter.name) == "success"
    states = api.task_states(dag_id, run_id, user=submitter.name)
    assert (states["report"], states["liaison_signoff"]) == ("success", "skipped")

    base = api.base_url
    index = f"{base}/htan-reports/{quote(dag_id, safe='')}/{quote(run_id, safe='')}/"
    stranger = chromium.new_context()
    try:
        page = stranger.new_page()
        with screenshot_on_failure(page, tmp_path / "report-stranger.png"):
            for link in (index, index + "report.html"):
                response = page.goto(link)
                assert response is not None and response.status == 401, f"{link} answered a stranger"
                expect(page.locator("body")).to_contain_text("Sign in to Airflow")
                expect(page.locator("body")).not_to_contain_text("Validation")
    finally:
        stranger.close()

    details = f"/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}/tasks/report/details"
    page = log_in(context, base, submitter, details, tmp_path)
    with screenshot_on_failure(page, tmp_path / "report.png"):
        link = page.get_by_role("link", name="HTAN report", exact=True)  # the plugin's extra link
        expect(link).to_have_attribute("href", index)
        link.click()
        page.wait_for_url(index)
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Reports of {dag_id} run {run_id}")
        for name in ("report.html", "validation.html", "phi_tables.html", "phi_images.html"):
            expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()

        page.get_by_role("link", name="report.html", exact=True).click()
        page.wait_for_url(index + "report.html")
        title = f"{center.center.center_id} batch {url}"
        expect(page).to_have_title(title)
        expect(page.get_by_role("heading", level=1)).to_have_text(title)
        expect(page.get_by_role("heading", level=2)).to_contain_text(
            ["Summary", "Validation", "PHI in the manifests", "Image headers"])
        validation = page.locator("section", has=page.get_by_role("heading", level=2, name=re.compile("^Validation")))
        expect(validation).to_contain_text("No findings (5 inputs checked)")
        expect(page.locator("section#summary table")).to_contain_text("pathology/HTA200_1_slide1.svs")
