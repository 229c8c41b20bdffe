"""The words of a reminder: the texts per level, channel and language (`wording`: defaults, stored templates,
rendered for an invoice), their __VARIABLES__ (`placeholders`), who receives and sends an email (`recipients`),
money and dates per language (`formatting`), French typography (`typography`), control characters (`safe_text`).

Imports: models, engine, the top-level services. Never `sending`, `letters`, Flask's request/session, an area
package or relance.tasks. A text edited by a user is data: nothing in it is ever evaluated."""
