"""What leaves: reminders made from the engine's verdicts (`dunning`: make, claim, send), the SMTP batches and
.eml outbox (`mailer`) and the mail server's circuit (`mail_circuit`), durable runs (`runs`: owner, heartbeat,
settling a dead worker's claims), the mass page's selection and run start (`mass`), the automatic daily run
(`autorun`; its dry run and test page: `autorun_preview`), one-time form tokens (`once`); what they need of the
app's configuration (`config.SendingConfig`, passed in by their callers).

Imports: models, engine, letters, texts, the top-level services. Never Flask's request/session, an area package
or relance.tasks (what must be queued is passed in as a callable)."""
