"""Pure utilities shared by every layer: errors, time, phone numbers, logging."""
