"""Words the demo generator draws from: company and people names, ticket subjects, comments."""

from __future__ import annotations

LOCALES = ("en", "de", "fr", "es")
LOCALE_SHARES = (0.55, 0.2, 0.15, 0.1)

TIMEZONES = {
    "en": ("America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London"),
    "de": ("Europe/Berlin", "Europe/Vienna", "Europe/Zurich"),
    "fr": ("Europe/Paris", "Europe/Brussels", "America/Montreal"),
    "es": ("Europe/Madrid", "America/Mexico_City", "America/Bogota"),
}
TOP_LEVEL_DOMAINS = {"en": "com", "de": "de", "fr": "fr", "es": "es"}
LEGAL_FORMS = {
    "en": ("Inc.", "Ltd", "LLC", "Group", ""),
    "de": ("GmbH", "AG", "GmbH & Co. KG", ""),
    "fr": ("SAS", "SA", "SARL", ""),
    "es": ("S.L.", "S.A.", ""),
}

# A company name is "[qualifier] stem noun [legal form]", e.g. "Alpine Falcon Logistics GmbH".
NAME_QUALIFIERS = (
    "", "Nordic", "Atlantic", "Alpine", "Global", "United", "First", "Metro", "Coastal", "Urban",
    "Royal", "Golden",
)  # fmt: skip
NAME_STEMS = (
    "Acme", "Aurora", "Beacon", "Birch", "Blue Harbor", "Bright", "Cascade", "Cedar", "Cobalt",
    "Copper", "Crest", "Delta", "Ember", "Evergreen", "Falcon", "Fjord", "Granite", "Harbor",
    "Helix", "Horizon", "Iris", "Juniper", "Keystone", "Lumen", "Maple", "Meridian", "Nimbus",
    "North Star", "Northwind", "Oak", "Orbit", "Pacific", "Pinnacle", "Polar", "Prairie",
    "Quarry", "Redwood", "Ridge", "River", "Saffron", "Sierra", "Silver", "Solstice", "Sparrow",
    "Spruce", "Summit", "Tandem", "Terra", "Tidal", "Timber", "Trident", "Union", "Vantage",
    "Vector", "Verdant", "Vertex", "Willow", "Zenith", "Atlas", "Bastion",
)  # fmt: skip
NAME_NOUNS = (
    "Analytics", "Bank", "Biotech", "Brewing", "Capital", "Clinics", "Cloud", "Consulting",
    "Dental", "Design", "Energy", "Engineering", "Foods", "Freight", "Games", "Health",
    "Hotels", "Insurance", "Labs", "Learning", "Legal", "Logistics", "Manufacturing", "Media",
    "Mobility", "Motors", "Outdoor", "Payments", "Pharma", "Properties", "Retail", "Robotics",
    "Security", "Software", "Solar", "Studios", "Systems", "Telecom", "Textiles", "Travel",
)  # fmt: skip

FIRST_NAMES = {
    "en": (
        "Olivia", "Liam", "Emma", "Noah", "Ava", "James", "Sophia", "Lucas", "Mia", "Ethan",
        "Harper", "Mason", "Amelia", "Logan", "Grace", "Owen", "Chloe", "Jack", "Zoe", "Ryan",
    ),
    "de": (
        "Anna", "Lukas", "Lea", "Jonas", "Sophie", "Felix", "Marie", "Paul", "Lena", "Leon",
        "Hannah", "Max", "Julia", "Tim", "Laura", "Jan", "Katrin", "Stefan", "Jörg", "Sabine",
    ),
    "fr": (
        "Camille", "Louis", "Chloé", "Hugo", "Léa", "Jules", "Manon", "Gabriel", "Inès", "Arthur",
        "Élise", "Théo", "Sarah", "Nathan", "Julie", "Antoine", "Margaux", "Thomas", "Émilie",
        "Mathis",
    ),
    "es": (
        "Lucía", "Hugo", "Sofía", "Martín", "María", "Pablo", "Paula", "Daniel", "Valeria",
        "Alejandro", "Carmen", "Javier", "Elena", "Diego", "Marta", "Sergio", "Laura", "Andrés",
        "Irene", "Raúl",
    ),
}  # fmt: skip
LAST_NAMES = {
    "en": (
        "Smith", "Johnson", "Brown", "Taylor", "Miller", "Wilson", "Moore", "Clark", "Hall",
        "Walker", "Young", "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson",
        "Carter", "Mitchell",
    ),
    "de": (
        "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
        "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
        "Schwarz", "Braun", "Zimmermann", "Krüger",
    ),
    "fr": (
        "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
        "Leroy", "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David",
        "Bertrand", "Roux", "Vincent", "Fournier",
    ),
    "es": (
        "García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez", "Pérez",
        "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Muñoz", "Álvarez",
        "Romero", "Navarro", "Torres",
    ),
}  # fmt: skip

CSM_NAMES = (
    "Maya Fischer", "Daniel Okafor", "Priya Raman", "Tom Becker", "Lucía Romero", "Hannah Lee",
)  # fmt: skip

FEATURES = (
    "dashboards", "reports", "alerts", "integrations", "automations", "api", "exports", "comments",
)  # fmt: skip
# How widely each feature is adopted: the first features an account takes up are the popular ones.
FEATURE_POPULARITY = (0.26, 0.2, 0.14, 0.11, 0.1, 0.08, 0.06, 0.05)

TICKET_SUBJECTS = (
    "Cannot log in after password reset",
    "SSO login fails for new users",
    "Dashboard not loading",
    "Report export times out",
    "CSV export has wrong date format",
    "Alert emails not arriving",
    "Integration sync stopped",
    "Salesforce sync duplicates contacts",
    "API returns 429 too often",
    "API token expired unexpectedly",
    "Question about invoice",
    "Request to add seats",
    "How do I set up automations?",
    "Automation ran twice",
    "Comments missing on shared report",
    "Slow page loads since last release",
    "Need help configuring permissions",
    "Bug: chart shows wrong totals",
    "Feature request: scheduled exports",
    "User cannot be deactivated",
    "Data import failed",
    "Webhook deliveries failing",
    "Mobile app crashes on start",
    "Training session for new team",
    "Billing address change",
)

# Survey comments by locale, topic (product: NPS and CES; support: CSAT) and score band.
COMMENTS = {
    "en": {
        "product": {
            "detractor": (
                "Too many bugs lately, my team is losing trust in the numbers.",
                "It's hard to get people to use it; onboarding was rushed.",
                "We pay for far more seats than we use.",
                "Support takes days to answer, and we have open issues for weeks.",
                "The reporting is too limited for what we need.",
            ),
            "passive": (
                "Does the job, but the reporting could be more flexible.",
                "Good product, a bit pricey for what we use.",
                "Fine overall; the integrations need work.",
                "Solid, though the UI feels dated.",
            ),
            "promoter": (
                "Our team lives in the dashboards every day.",
                "Great product and a responsive team.",
                "Saves us hours every week. Highly recommend.",
                "The automations changed how we work.",
                "Easy to roll out and everyone picked it up quickly.",
            ),
        },
        "support": {
            "detractor": (
                "Took far too long to get a real answer.",
                "The issue is still not fixed.",
                "I had to explain the problem three times.",
            ),
            "passive": ("Resolved in the end, but it took a while.", "OK, nothing special."),
            "promoter": (
                "Quick and friendly, thanks!",
                "Fixed within the hour. Great support.",
                "Clear explanation and a fast fix.",
            ),
        },
    },
    "de": {
        "product": {
            "detractor": (
                "Zu viele Fehler in letzter Zeit, das Team vertraut den Zahlen nicht mehr.",
                "Wir zahlen für viel mehr Lizenzen, als wir nutzen.",
                "Der Support antwortet zu langsam.",
            ),
            "passive": (
                "Erfüllt seinen Zweck, die Berichte könnten flexibler sein.",
                "Gutes Produkt, aber recht teuer.",
            ),
            "promoter": (
                "Unser Team arbeitet jeden Tag mit den Dashboards.",
                "Spart uns jede Woche Stunden. Klare Empfehlung.",
                "Tolles Produkt und ein sehr hilfsbereites Team.",
            ),
        },
        "support": {
            "detractor": (
                "Hat viel zu lange gedauert.",
                "Das Problem ist immer noch nicht gelöst.",
            ),
            "passive": ("Am Ende gelöst, aber es hat gedauert.",),
            "promoter": ("Schnell und freundlich, danke!", "Innerhalb einer Stunde behoben."),
        },
    },
    "fr": {
        "product": {
            "detractor": (
                "Trop de bugs ces derniers temps, l'équipe ne fait plus confiance aux chiffres.",
                "Nous payons bien plus de licences que nous n'en utilisons.",
                "Le support met des jours à répondre.",
            ),
            "passive": (
                "Fait le travail, mais les rapports manquent de souplesse.",
                "Bon produit, un peu cher.",
            ),
            "promoter": (
                "Notre équipe utilise les tableaux de bord tous les jours.",
                "Un gain de temps énorme. Je recommande.",
                "Excellent produit et équipe très réactive.",
            ),
        },
        "support": {
            "detractor": ("Beaucoup trop long.", "Le problème n'est toujours pas résolu."),
            "passive": ("Résolu, mais cela a pris du temps.",),
            "promoter": ("Rapide et efficace, merci !", "Corrigé en moins d'une heure."),
        },
    },
    "es": {
        "product": {
            "detractor": (
                "Demasiados errores últimamente, el equipo ya no confía en los datos.",
                "Pagamos muchas más licencias de las que usamos.",
                "El soporte tarda días en responder.",
            ),
            "passive": (
                "Cumple, pero los informes podrían ser más flexibles.",
                "Buen producto, algo caro.",
            ),
            "promoter": (
                "Nuestro equipo usa los paneles todos los días.",
                "Nos ahorra horas cada semana. Lo recomiendo.",
                "Gran producto y un equipo muy atento.",
            ),
        },
        "support": {
            "detractor": ("Tardaron demasiado.", "El problema sigue sin resolverse."),
            "passive": ("Se resolvió, pero tardó bastante.",),
            "promoter": ("Rápido y amable, ¡gracias!", "Resuelto en menos de una hora."),
        },
    },
}

# What a detractor writes about the problem that raises the account's hazard (hazard.PROBLEMS).
PROBLEM_COMMENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "usage_decline": (
            "Our champion left and hardly anyone logs in any more.",
            "The team drifted back to spreadsheets after the reorganisation.",
            "Usage dropped a lot since the last release; people stopped bothering.",
        ),
        "low_seat_utilisation": (
            "We pay for far more seats than we use.",
            "It's hard to get people to use it; onboarding was rushed.",
            "Half the team never adopted it; it lacks the features they need.",
        ),
        "ticket_backlog": (
            "Support takes days to answer, and we have open issues for weeks.",
            "Our tickets pile up and nothing gets fixed.",
            "Every issue is escalated and still not resolved.",
        ),
    },
    "de": {
        "usage_decline": (
            "Unser Champion hat das Unternehmen verlassen, kaum jemand meldet sich noch an.",
            "Das Team ist zu Excel zurückgekehrt.",
        ),
        "low_seat_utilisation": (
            "Wir zahlen für viel mehr Lizenzen, als wir nutzen.",
            "Die Hälfte des Teams nutzt es nicht, es fehlen wichtige Funktionen.",
        ),
        "ticket_backlog": (
            "Der Support antwortet zu langsam, Tickets bleiben wochenlang offen.",
            "Unsere Tickets stapeln sich und nichts wird behoben.",
        ),
    },
    "fr": {
        "usage_decline": (
            "Notre référent est parti et presque plus personne ne se connecte.",
            "L'équipe est revenue aux tableurs.",
        ),
        "low_seat_utilisation": (
            "Nous payons bien plus de licences que nous n'en utilisons.",
            "La moitié de l'équipe ne l'utilise pas, il manque des fonctionnalités.",
        ),
        "ticket_backlog": (
            "Le support met des jours à répondre, nos tickets restent ouverts.",
            "Les tickets s'accumulent et rien n'est corrigé.",
        ),
    },
    "es": {
        "usage_decline": (
            "Nuestro responsable se fue y casi nadie entra ya.",
            "El equipo volvió a las hojas de cálculo.",
        ),
        "low_seat_utilisation": (
            "Pagamos muchas más licencias de las que usamos.",
            "La mitad del equipo no lo usa, faltan funciones.",
        ),
        "ticket_backlog": (
            "El soporte tarda días en responder y los tickets siguen abiertos.",
            "Los tickets se acumulan y nada se arregla.",
        ),
    },
}

# Why an account left, by the driver that raised its hazard most (None: no driver stood out).
CHURN_REASONS = {
    "usage_decline": ("Usage fell away after the champion left", "Moved the team to another tool"),
    "low_seat_utilisation": ("Too few users to justify the cost", "Never fully adopted"),
    "detractor": ("Unhappy with product quality", "Switched to a competitor"),
    "ticket_backlog": ("Unresolved support issues", "Lost confidence after repeated outages"),
    "renewal_near": ("Budget cut at renewal", "Consolidated vendors at renewal"),
    "segment_smb": ("Company closed", "Downsized and cancelled"),
    "segment_enterprise": ("Consolidated vendors at renewal",),
    None: ("Acquired; parent company uses another tool", "Budget cut at renewal"),
}

# CSM notes for the timeline, by how the account was doing when the note was written.
HEALTHY_NOTES = (
    "QBR held: usage up, the team wants to roll out to another department.",
    "Champion is happy; discussed the automation roadmap.",
    "Sent best-practice guide for dashboards; positive reply.",
    "Check-in call: no open issues, renewal looks safe.",
    "Executive sponsor joined the QBR and asked about the enterprise plan.",
)
AT_RISK_NOTES = (
    "QBR: usage is down and the champion sounded frustrated about open tickets.",
    "Champion is leaving the company; need a new contact.",
    "Customer asked for a price reduction before renewal.",
    "Escalated two long-running tickets to the support lead.",
    "Low adoption: offered a free training session.",
)
