"""What the dashboard shows for each code of the services (message ids, translated where shown).

The codes and the export's French labels belong to kiosk.services.mediation.activity (the national tool's words);
these are the dashboard's own wording, short enough for a phone.
"""

from __future__ import annotations

from kiosk.web.i18n import N_

KINDS = {
    "individuel": N_("Individual help"),
    "collectif": N_("Group workshop"),
    "information": N_("Quick information"),
}
KIND_HINTS = {
    "individuel": N_("One person: a digital skill or an online procedure"),
    "collectif": N_("Several people at once"),
    "information": N_("A short answer, a few minutes"),
}
DIGITAL_THEMES = {
    "diagnostic_numerique": N_("Digital skills check"),
    "prendre_en_main_du_materiel": N_("Using a device"),
    "maintenance_de_materiel": N_("Device maintenance"),
    "gere_ses_contenus_numeriques": N_("Managing files and photos"),
    "navigation_sur_internet": N_("Browsing the internet"),
    "email": N_("E-mail"),
    "bureautique": N_("Office software"),
    "reseaux_sociaux": N_("Social networks, messaging"),
    "sante": N_("Health online"),
    "banque_et_achats_en_ligne": N_("Banking and shopping online"),
    "entrepreneuriat": N_("Helping a professional"),
    "insertion_professionnelle": N_("Finding work"),
    "securite_numerique": N_("Online safety"),
    "parentalite": N_("Parenting"),
    "scolarite_et_numerique": N_("School and digital tools"),
    "creer_avec_le_numerique": N_("Creating with digital tools"),
    "culture_numerique": N_("Digital culture"),
    "intelligence_artificielle": N_("Artificial intelligence"),
    "aide_aux_demarches_administratives": N_("Help with administrative procedures"),
}
PROCEDURE_THEMES = {
    "papiers_elections_citoyennete": N_("Papers, identity, elections"),
    "famille_scolarite": N_("Family, school"),
    "social_sante": N_("Social benefits, health insurance"),
    "travail_formation": N_("Work, training, retirement"),
    "logement": N_("Housing"),
    "transports_mobilite": N_("Transport, driving"),
    "argent_impots": N_("Money, taxes"),
    "justice": N_("Justice"),
    "etrangers_europe": N_("Foreigners' rights"),
    "loisirs_sports_culture": N_("Leisure, sport, culture"),
    "associations": N_("Associations"),
}
MATERIAL = {"ordinateur": N_("Computer"), "telephone": N_("Phone"), "tablette": N_("Tablet"), "autre": N_("Other"),
            "aucun": N_("No device")}
AUTONOMY = {
    "entierement_accompagne": N_("Guided all along"),
    "partiellement_autonome": N_("On their own, with some help"),
    "autonome": N_("On their own"),
}
WORKSHOP_LEVELS = {"debutant": N_("Beginner"), "intermediaire": N_("Intermediate"), "avance": N_("Advanced")}
REFERRALS = {
    "administration": N_("Administration (town hall, préfecture…)"),
    "mediation_numerique": N_("Another digital help place"),
    "operateur_ou_organisme_en_charge": N_("The body in charge (CAF, France Travail…)"),
    "aide_sociale": N_("Social help (social centre…)"),
    "insertion_professionnelle": N_("Finding work (France Travail, mission locale…)"),
    "aide_aux_demarches_administratives": N_("Help with procedures (France Services…)"),
    "autre": N_("Other"),
}
GENDERS = {"masculin": N_("Man"), "feminin": N_("Woman"), "not_given": N_("Not given")}
AGE_BANDS = {
    "moins_de_douze": N_("Under 12"),
    "douze_dix_huit": N_("12 to 17"),
    "dix_huit_vingt_quatre": N_("18 to 24"),
    "vingt_cinq_trente_neuf": N_("25 to 39"),
    "quarante_cinquante_neuf": N_("40 to 59"),
    "soixante_soixante_neuf": N_("60 to 69"),
    "soixante_dix_plus": N_("70 and over"),
    "not_given": N_("Not given"),
}
SOCIAL_STATUSES = {"scolarise": N_("In school"), "sans_emploi": N_("Out of work"), "en_emploi": N_("In work"),
                   "retraite": N_("Retired"), "not_given": N_("Not given")}
PLACE_KINDS = {
    "market": N_("Market"),
    "square": N_("Square"),
    "school": N_("School"),
    "health_centre": N_("Health centre"),
    "social_centre": N_("Social centre"),
    "other": N_("Other place"),
}
TABLET_STATUSES = {
    "ready": N_("Ready"),
    "lent": N_("Lent"),
    "wiping": N_("Wiping"),
    "needs-attention": N_("Needs attention"),
    "retired": N_("Retired"),
}
BANDS = {"beginner": N_("Beginner"), "with_help": N_("With help"), "on_my_own": N_("On my own"),
         "at_ease": N_("At ease"), "not_assessed": N_("Not assessed")}
APPOINTMENT_STATUSES = {"pending": N_("To do"), "done": N_("Done"), "cancelled": N_("Cancelled")}
SLOTS = {"morning": N_("Morning"), "afternoon": N_("Afternoon"), "any": N_("Any time")}
OFFSET_UNITS = {"seconds": N_("%(n)s s"), "minutes": N_("%(n)s min"), "hours": N_("%(n)s h"),
                "days": N_("%(n)s days")}
CLOCK_SOURCES = {"phone": N_("from a mediator's phone"), "network": N_("from the 4G network"),
                 "system": N_("by the system (NTP or an administrator)")}
# The tablets' usual status reasons and wipe steps (provisioning writes them in English); others show as written.
TABLET_REASONS = {text: text for text in (
    N_("lent"), N_("being prepared for a participant"), N_("returned: wipe pending"), N_("wipe pending"),
    N_("verified clean"), N_("enrolled: first wipe pending"), N_("retired"), N_("connecting"),
    N_("resuming an interrupted wipe"), N_("switching back to the owner (user 0)"),
    N_("removing the participant's user"), N_("removing apps installed since enrollment"),
    N_("clearing the listed apps' data"), N_("emptying the shared folders"),
    N_("ending the guest's processes"), N_("unmounting removable media"),
    N_("restoring the guest's home from the golden skeleton"),
    N_("removing the guest's files in /tmp, /var/tmp, /dev/shm"),
    N_("removing Wi-Fi connections not on the allow-list"), N_("cancelling print jobs and their files"),
)}
