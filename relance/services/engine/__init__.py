"""The reminder engine: which level is due for which invoice on a day and why (not) (`schedule`), the one rulebook
every path asks before anything leaves (`eligibility`), the levels and their delays (`levels`), the amounts claimed
(`penalties`: penalty, statutory interest, recovery indemnity), and whether anything can be chased at all
(`readiness`: no active level, a level without its text for a channel or a language, in words).

Imports: models, the top-level services (settings, audit). Never `sending`, `letters`, Flask's request/session,
an area package or relance.tasks. Dates are passed in (no clock)."""
