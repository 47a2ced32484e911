"""Morning report delivery through the outbox against the sandbox over real SMTP and HTTP:
Block Kit plus the chart uploaded the files_upload_v2 way, email with HTML and CSV, each
delivered exactly once across an outage."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from email.utils import parseaddr, parsedate_to_datetime

import httpx
import pytest
from matplotlib import image
from sqlalchemy import select

from config import Settings
from logic.reports import morning, outbox
from models.report import ReportDelivery, ReportDeliveryStatus, ReportRecipients
from tests.logic.reports.morning_facts import NOW, REPORT_DATE, make_morning_facts
from utils.mailer import build_mailer
from utils.slack_client import build_slack_client


def clients(sandbox):
    settings = Settings(**sandbox.settings_env())
    return build_slack_client(settings, sleep=lambda _s: None, retry_wait=0.0), build_mailer(
        settings
    )


def queue(session, **facts):
    make_morning_facts(session, **facts)
    [report] = morning.generate(session, REPORT_DATE, terminal="Memphis", now=NOW)
    recipients = ReportRecipients.get_for(session, "Memphis")
    assert outbox.enqueue(session, report, recipients, NOW) == len(recipients.slack_channels) + (
        1 if recipients.emails else 0
    )
    session.flush()
    return report


def slack_messages(sandbox):
    return httpx.get(f"{sandbox.url}/_sandbox/slack/messages").raise_for_status().json()["messages"]


def test_slack_gets_block_kit_and_the_chart_in_its_thread(session, sandbox_clean):
    queue(session, emails=())
    slack, mailer = clients(sandbox_clean)
    result = outbox.drain(slack=slack, mailer=mailer, now=NOW)
    assert result.sent == 1
    post, upload = slack_messages(sandbox_clean)
    assert post["channel_name"] == "ops-memphis"
    assert post["blocks"][0]["text"]["text"] == "Memphis morning report — 2026-03-11"
    assert any("Late loads" in b.get("text", {}).get("text", "") for b in post["blocks"])
    assert upload["thread_ts"] == post["ts"] and len(upload["files"]) == 1
    paths = [r["path"] for r in sandbox_clean.requests("slack")]
    assert paths[1] == "/slack/api/files.getUploadURLExternal"
    assert paths[2].startswith("/slack/upload/v1/")
    assert paths[3] == "/slack/api/files.completeUploadExternal"
    png = httpx.get(f"{sandbox_clean.url}/_sandbox/slack/files/{upload['files'][0]}/content")
    assert image.imread(io.BytesIO(png.content), format="png").shape[:2] == (600, 1200)


def test_slack_down_then_up_delivers_exactly_once(session, sandbox_clean):
    queue(session, emails=())
    slack, mailer = clients(sandbox_clean)
    sandbox_clean.fault("slack", "5xx", count=100)
    for hour in (0, 1):
        result = outbox.drain(slack=slack, mailer=mailer, now=NOW + timedelta(hours=hour))
        assert (result.sent, result.retried) == (0, 1)
    assert slack_messages(sandbox_clean) == []
    [delivery] = session.scalars(select(ReportDelivery)).all()
    session.refresh(delivery)
    assert (delivery.progress, delivery.attempts) == ({}, 2)
    assert delivery.next_attempt_at > NOW + timedelta(hours=1)  # backing off
    sandbox_clean.state.faults.clear()
    assert outbox.drain(slack=slack, mailer=mailer, now=NOW + timedelta(hours=2)).sent == 1
    assert outbox.drain(slack=slack, mailer=mailer, now=NOW + timedelta(hours=3)).claimed == 0
    messages = slack_messages(sandbox_clean)
    assert [bool(m["blocks"]) for m in messages] == [True, False]  # one post, one chart


def test_chart_upload_failure_resumes_without_reposting(session, sandbox_clean):
    queue(session, emails=())
    slack, mailer = clients(sandbox_clean)
    original = slack.upload_file
    calls = []

    def failing_upload(*args, **kwargs):
        calls.append(1)
        sandbox_clean.fault("slack", "5xx", count=1)
        return original(*args, **kwargs)

    slack.upload_file = failing_upload
    first = outbox.drain(slack=slack, mailer=mailer, now=NOW)
    assert first.retried == 1
    [delivery] = session.scalars(select(ReportDelivery)).all()
    session.refresh(delivery)
    assert set(delivery.progress) == {"channel", "ts"}
    slack.upload_file = original
    assert outbox.drain(slack=slack, mailer=mailer, now=NOW + timedelta(hours=1)).sent == 1
    messages = slack_messages(sandbox_clean)
    assert len([m for m in messages if m["blocks"]]) == 1 and len(messages) == 2


def test_email_with_html_and_csv_exactly_once_across_an_outage(session, sandbox_clean):
    report = queue(session, slack_channels=())
    slack, mailer = clients(sandbox_clean)
    sandbox_clean.mail_outage(2)
    assert outbox.drain(slack=slack, mailer=mailer, now=NOW).retried == 1
    assert outbox.drain(slack=slack, mailer=mailer, now=NOW + timedelta(hours=1)).retried == 1
    assert sandbox_clean.mail() == []
    assert outbox.drain(slack=slack, mailer=mailer, now=NOW + timedelta(hours=2)).sent == 1
    assert outbox.drain(slack=slack, mailer=mailer, now=NOW + timedelta(hours=3)).claimed == 0
    [mail] = sandbox_clean.mail()
    assert mail["rcpt_to"] == ["ops@example.com"]
    assert mail["subject"] == "Memphis morning report — 2026-03-11"
    assert "Riley Risky" in mail["html"] and "<h3>Late loads</h3>" in mail["html"]
    [attachment] = mail["attachments"]
    assert attachment["filename"] == "driver-scorecard-2026-03-10-memphis.csv"
    csv = httpx.get(
        f"{sandbox_clean.url}/_sandbox/mail/messages/0/attachments/{attachment['filename']}"
    ).text
    assert csv.splitlines()[0].startswith("report_date,driver_id,driver_name")
    assert len(csv.splitlines()) == 3  # header + two drivers
    [delivery] = outbox.for_report(session, report.id)
    assert (delivery.status, delivery.attempts) == (ReportDeliveryStatus.SENT, 3)


def test_regenerating_does_not_queue_twice(session):
    report = queue(session)
    recipients = ReportRecipients.get_for(session, "Memphis")
    [again] = morning.generate(session, REPORT_DATE, terminal="Memphis", now=NOW)
    assert again.id == report.id
    assert outbox.enqueue(session, again, recipients, NOW) == 0


class _Killed(BaseException):
    """The process dying: nothing after it runs, nothing is recorded."""


class _DiesDuringUpload:
    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def upload_file(self, *args, **kwargs):
        raise _Killed


def test_a_worker_killed_during_the_chart_upload_does_not_post_the_report_twice(
    session, sandbox_clean
):
    queue(session, emails=())
    slack, mailer = clients(sandbox_clean)
    with pytest.raises(_Killed):
        outbox.drain(slack=_DiesDuringUpload(slack), mailer=mailer, now=NOW)
    [post] = slack_messages(sandbox_clean)  # Slack has the message; the row does not know it

    later = NOW + outbox.LEASE + timedelta(seconds=1)
    assert outbox.drain(slack=slack, mailer=mailer, now=later).sent == 1

    again, upload = slack_messages(sandbox_clean)
    assert again["ts"] == post["ts"] and upload["thread_ts"] == post["ts"]
    [row] = session.scalars(select(ReportDelivery)).all()
    assert row.progress["ts"] == post["ts"] and row.status == ReportDeliveryStatus.SENT


class _DiesAfterUpload(_DiesDuringUpload):
    def upload_file(self, *args, **kwargs):
        self.inner.upload_file(*args, **kwargs)
        raise _Killed


def test_a_worker_killed_after_the_chart_upload_does_not_share_the_chart_twice(
    session, sandbox_clean
):
    queue(session, emails=())
    slack, mailer = clients(sandbox_clean)
    with pytest.raises(_Killed):
        outbox.drain(slack=_DiesAfterUpload(slack), mailer=mailer, now=NOW)
    post, upload = slack_messages(sandbox_clean)  # Slack has both; the row knows neither

    later = NOW + outbox.LEASE + timedelta(seconds=1)
    assert outbox.drain(slack=slack, mailer=mailer, now=later).sent == 1

    assert [m["ts"] for m in slack_messages(sandbox_clean)] == [post["ts"], upload["ts"]]
    [row] = session.scalars(select(ReportDelivery)).all()
    assert row.status == ReportDeliveryStatus.SENT and row.progress["file_id"] == upload["files"][0]


class RecordingMailer:
    """The real mailer, noting each message it was asked to send (refused ones included)."""

    def __init__(self, mailer):
        self.mailer, self.sender, self.sent = mailer, mailer.sender, []

    def send(self, message):
        self.sent.append(message)
        self.mailer.send(message)


def test_email_carries_every_required_header_and_one_message_id_across_retries(
    session, sandbox_clean
):
    """Issue 21.15: RFC 5322 requires Date and From (no Date: spam filters flag MISSING_DATE);
    a retry after a refusal is the same message (same Message-ID and Date)."""
    queue(session, slack_channels=())
    slack, mailer = clients(sandbox_clean)
    recording = RecordingMailer(mailer)
    sandbox_clean.mail_outage(1)
    assert outbox.drain(slack=slack, mailer=recording, now=NOW).retried == 1
    later = NOW + timedelta(hours=1)
    assert outbox.drain(slack=slack, mailer=recording, now=later).sent == 1

    [mail] = sandbox_clean.mail()
    headers = {name.lower(): value for name, value in mail["headers"]}
    assert {"date", "from", "to", "subject", "message-id", "mime-version"} <= set(headers)
    assert parsedate_to_datetime(headers["date"]) == NOW  # made at the first attempt
    assert parseaddr(headers["from"])[1] == mailer.sender
    assert headers["to"] == "ops@example.com"
    assert headers["subject"] == "Memphis morning report — 2026-03-11"
    assert re.fullmatch(r"<[^<>@\s]+@example\.com>", headers["message-id"])
    assert headers["mime-version"] == "1.0"
    assert headers["content-type"].startswith("multipart/mixed")
    first, second = recording.sent
    assert first["Message-ID"] == second["Message-ID"] == headers["message-id"]
    assert first["Date"] == second["Date"]
