"""The mediators' records: outings, activity records (La Coop's model, its export and form), loaned tablets,
the follow-up of appointment requests, and the reports for funders and the fleet."""
