-- La Coop de la médiation numérique's place postcode and a workshop's anonymous participants (upstream 46aa33b):
-- the outing's postcode fills the export's "Code postal" ('' when the mediator did not give it), and a workshop
-- counts its anonymous participants by gender, age band and social status (La Coop's participantsAnonymes),
-- kept as "code=count" pairs in the vocabulary's order, cleared with the rest of the profile after a year.
ALTER TABLE outings ADD COLUMN postcode TEXT NOT NULL DEFAULT '';
ALTER TABLE activity_records ADD COLUMN group_profile TEXT NOT NULL DEFAULT '';
