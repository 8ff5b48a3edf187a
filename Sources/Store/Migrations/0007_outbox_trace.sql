-- 0007_outbox_trace: an outbox job keeps the trace of the job that added it (a W3C traceparent:
-- the same trace id, a span of its own), so the jobs a job fans out through the outbox log the
-- trace id their parent logs (Sources/Queue/Envelope/TraceParent.swift). NULL for rows added
-- before this migration, and by code that runs outside any job; the relay then starts a new trace.

ALTER TABLE outbox ADD COLUMN trace text;
