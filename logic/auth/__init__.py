"""Authentication, sessions, RBAC and the audit trail."""
