"""AuditEvents (IHE BALP style) for MinLog, written in the request's own transaction."""
