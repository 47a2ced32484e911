"""SQLModel tables, one module per aggregate; importing this package registers them all."""
from models import ingest  # noqa: F401
from models import user  # noqa: F401
from models import user_session  # noqa: F401
from models import audit_log  # noqa: F401
from models import alert  # noqa: F401
from models import driver  # noqa: F401
from models import vehicle  # noqa: F401
from models import location  # noqa: F401
from models import trip  # noqa: F401
from models import hos  # noqa: F401
from models import safety_event  # noqa: F401
from models import vendor_cache  # noqa: F401
