"""FastAPI routers, one file per resource; plus the app plumbing shared by both apps."""
