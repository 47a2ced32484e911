"""SQLModel tables, one module per aggregate; importing this package registers them all."""

from models import (
    alert,  # noqa: F401
    alert_ladder,  # noqa: F401
    audit_log,  # noqa: F401
    call,  # noqa: F401
    call_agent_profile,  # noqa: F401
    campaign,  # noqa: F401
    contact_plan,  # noqa: F401
    customer,  # noqa: F401
    customer_notice,  # noqa: F401
    do_not_call,  # noqa: F401
    driver,  # noqa: F401
    driver_message,  # noqa: F401
    hos,  # noqa: F401
    ingest,  # noqa: F401
    location,  # noqa: F401
    report,  # noqa: F401
    safety_event,  # noqa: F401
    stop_visit,  # noqa: F401
    trip,  # noqa: F401
    trip_share,  # noqa: F401
    user,  # noqa: F401
    user_session,  # noqa: F401
    vehicle,  # noqa: F401
    vendor_cache,  # noqa: F401
    webhook_event,  # noqa: F401
)
