"""Reading the ElevenLabs agent's system-tool results: only successful `voicemail_detection`
and `transfer_to_number` results count, a SIP transfer as a Twilio one, errors not at all."""

from __future__ import annotations

from datetime import UTC, datetime

from logic.calls.voice.elevenlabs import apply_elevenlabs
from models.call import Call, CallOutcome, CallStatus

NOW = datetime(2026, 3, 11, 15, 0, tzinfo=UTC)
START = int(datetime(2026, 3, 11, 14, 50, tzinfo=UTC).timestamp())


def _system(result: dict, *, is_error: bool = False) -> dict:
    return {
        "type": "system",
        "request_id": "r1",
        "tool_name": "t",
        "result_value": "{}",
        "is_error": is_error,
        "tool_has_been_called": True,
        "result": result,
    }


def _apply(*results: dict) -> Call:
    call = Call(provider="elevenlabs", status=CallStatus.IN_PROGRESS)
    transcript = [
        {"role": "user", "message": "Hello?", "time_in_call_secs": 0},
        {
            "role": "agent",
            "message": "One moment.",
            "time_in_call_secs": 30,
            "tool_results": list(results),
        },
    ]
    data = {
        "conversation_id": "conv_1",
        "status": "done",
        "transcript": transcript,
        "metadata": {"start_time_unix_secs": START, "call_duration_secs": 40},
    }
    apply_elevenlabs(call, "post_call_transcription", {"data": data}, now=NOW)
    return call


def test_a_sip_transfer_is_recorded_at_its_turn():
    call = _apply(
        _system(
            {"result_type": "transfer_to_number_sip_success", "transfer_number": "+12015550142"}
        )
    )
    assert call.outcome == CallOutcome.COMPLETED and call.transferred_to == "+12015550142"
    assert call.transferred_at == datetime(2026, 3, 11, 14, 50, 30, tzinfo=UTC)


def test_failed_transfers_and_other_tools_change_nothing():
    call = _apply(
        _system({"result_type": "transfer_to_number_error", "error": "busy"}, is_error=True),
        _system({"result_type": "end_call_success", "status": "success"}),
        {**_system({"result_type": "voicemail_detection_success"}), "type": "webhook"},
    )
    assert call.outcome == CallOutcome.COMPLETED
    assert call.transferred_to is None and call.transferred_at is None


def test_voicemail_with_and_without_a_message():
    left = _apply(
        _system({"result_type": "voicemail_detection_success", "voicemail_message": "Hi"})
    )
    assert left.outcome == CallOutcome.VOICEMAIL_LEFT
    plain = _apply(
        _system({"result_type": "voicemail_detection_success", "voicemail_message": None})
    )
    assert plain.outcome == CallOutcome.VOICEMAIL
