"""Default survey texts in en, de, fr and es, and how a contact's locale picks one.

Placeholders: {product} (the survey's product name) and {name} (the contact's first name).
A survey's own texts override these per key; a missing locale falls back to the survey's default
locale, then to English.
"""

from __future__ import annotations

from typing import Any

LOCALES = ("en", "de", "fr", "es")
FALLBACK_LOCALE = "en"

_QUESTIONS = {
    "nps": {
        "en": "How likely are you to recommend {product} to a friend or colleague?",
        "de": "Wie wahrscheinlich ist es, dass Sie {product} einem Freund oder Kollegen empfehlen?",
        "fr": "Quelle est la probabilité que vous recommandiez {product} à un ami ou collègue ?",
        "es": "¿Qué probabilidad hay de que recomiende {product} a un amigo o colega?",
    },
    "csat": {
        "en": "How satisfied are you with the support you received?",
        "de": "Wie zufrieden sind Sie mit dem Support, den Sie erhalten haben?",
        "fr": "Êtes-vous satisfait(e) de l'assistance que vous avez reçue ?",
        "es": "¿Qué tan satisfecho está con el soporte que recibió?",
    },
    "ces": {
        "en": "How easy was it to get what you needed from {product}?",
        "de": "Wie einfach war es, mit {product} zu erreichen, was Sie brauchten?",
        "fr": "Dans quelle mesure a-t-il été facile d'obtenir ce dont vous aviez besoin ?",
        "es": "¿Qué tan fácil fue conseguir lo que necesitaba de {product}?",
    },
}

_COMMON = {
    "en": {
        "subject": "Quick question about {product}",
        "reminder_subject": "Reminder: two clicks to tell us about {product}",
        "greeting": "Hi {name},",
        "intro": "Pick a score, then send it: two clicks.",
        "closing": "Thank you,",
        "signature": "The {product} team",
        "low_label": "Not likely",
        "high_label": "Very likely",
        "confirm": "Send my answer",
        "press_to_send": "Press “Send my answer” to record it: nothing is saved until you do.",
        "comment_label": "Anything you would like to add?",
        "send_comment": "Send comment",
        "skip_comment": "Skip",
        "comment_too_long": (
            "Your comment is too long. Please shorten it to 5,000 characters or fewer."
        ),
        "thank_you": "Thank you! Your answer helps us improve {product}.",
        "change_answer": "You can change your answer until the link expires.",
        "comment_rule": (
            "Your comment stays if the new score asks the same follow-up question; otherwise it "
            "is removed so that you can answer the new one."
        ),
        "unsubscribe": "Unsubscribe from surveys",
        "unsubscribed": "You will not receive any more surveys from us.",
        "follow_up": {
            "detractor": "We are sorry to hear that. What should we do better?",
            "passive": "Thank you. What would make {product} even better for you?",
            "promoter": "Wonderful! What do you like most about {product}?",
        },
    },
    "de": {
        "subject": "Eine kurze Frage zu {product}",
        "reminder_subject": "Erinnerung: zwei Klicks zu {product}",
        "greeting": "Hallo {name},",
        "intro": "Punktzahl wählen, dann senden: zwei Klicks.",
        "closing": "Vielen Dank,",
        "signature": "Ihr {product}-Team",
        "low_label": "Unwahrscheinlich",
        "high_label": "Sehr wahrscheinlich",
        "confirm": "Antwort senden",
        "press_to_send": (
            "Drücken Sie „Antwort senden“, um sie zu speichern: vorher wird nichts gespeichert."
        ),
        "comment_label": "Möchten Sie noch etwas ergänzen?",
        "send_comment": "Kommentar senden",
        "skip_comment": "Überspringen",
        "comment_too_long": (
            "Ihr Kommentar ist zu lang. Bitte kürzen Sie ihn auf höchstens 5000 Zeichen."
        ),
        "thank_you": "Vielen Dank! Ihre Antwort hilft uns, {product} zu verbessern.",
        "change_answer": "Sie können Ihre Antwort ändern, bis der Link abläuft.",
        "comment_rule": (
            "Ihr Kommentar bleibt, wenn die neue Bewertung dieselbe Folgefrage stellt; sonst wird"
            " er entfernt, damit Sie die neue Frage beantworten können."
        ),
        "unsubscribe": "Keine Umfragen mehr erhalten",
        "unsubscribed": "Sie erhalten keine Umfragen mehr von uns.",
        "follow_up": {
            "detractor": "Das tut uns leid. Was sollten wir besser machen?",
            "passive": "Danke. Was würde {product} für Sie noch besser machen?",
            "promoter": "Großartig! Was gefällt Ihnen an {product} am besten?",
        },
    },
    "fr": {
        "subject": "Une petite question sur {product}",
        "reminder_subject": "Rappel : deux clics pour nous parler de {product}",
        "greeting": "Bonjour {name},",
        "intro": "Choisissez une note, puis envoyez-la : deux clics.",
        "closing": "Merci,",
        "signature": "L'équipe {product}",
        "low_label": "Peu probable",
        "high_label": "Très probable",
        "confirm": "Envoyer ma réponse",
        "press_to_send": (
            "Appuyez sur « Envoyer ma réponse » pour l'enregistrer : rien n'est enregistré avant."
        ),
        "comment_label": "Souhaitez-vous ajouter quelque chose ?",
        "send_comment": "Envoyer le commentaire",
        "skip_comment": "Passer",
        "comment_too_long": (
            "Votre commentaire est trop long. Merci de le raccourcir à 5000 caractères au maximum."
        ),
        "thank_you": "Merci ! Votre réponse nous aide à améliorer {product}.",
        "change_answer": "Vous pouvez modifier votre réponse jusqu'à l'expiration du lien.",
        "comment_rule": (
            "Votre commentaire est conservé si la nouvelle note pose la même question de suivi ; "
            "sinon il est retiré pour que vous puissiez répondre à la nouvelle."
        ),
        "unsubscribe": "Ne plus recevoir d'enquêtes",
        "unsubscribed": "Vous ne recevrez plus d'enquêtes de notre part.",
        "follow_up": {
            "detractor": "Nous en sommes désolés. Que devrions-nous améliorer ?",
            "passive": "Merci. Qu'est-ce qui rendrait {product} encore meilleur pour vous ?",
            "promoter": "Formidable ! Qu'appréciez-vous le plus dans {product} ?",
        },
    },
    "es": {
        "subject": "Una pregunta rápida sobre {product}",
        "reminder_subject": "Recordatorio: dos clics para contarnos sobre {product}",
        "greeting": "Hola {name}:",
        "intro": "Elija una puntuación y envíela: dos clics.",
        "closing": "Gracias,",
        "signature": "El equipo de {product}",
        "low_label": "Poco probable",
        "high_label": "Muy probable",
        "confirm": "Enviar mi respuesta",
        "press_to_send": "Pulse «Enviar mi respuesta» para guardarla: no se guarda nada antes.",
        "comment_label": "¿Quiere añadir algo más?",
        "send_comment": "Enviar comentario",
        "skip_comment": "Omitir",
        "comment_too_long": (
            "Su comentario es demasiado largo. Acórtelo a 5000 caracteres como máximo."
        ),
        "thank_you": "¡Gracias! Su respuesta nos ayuda a mejorar {product}.",
        "change_answer": "Puede cambiar su respuesta hasta que caduque el enlace.",
        "comment_rule": (
            "Su comentario se conserva si la nueva puntuación plantea la misma pregunta de "
            "seguimiento; si no, se elimina para que pueda responder a la nueva."
        ),
        "unsubscribe": "Darse de baja de las encuestas",
        "unsubscribed": "No recibirá más encuestas de nuestra parte.",
        "follow_up": {
            "detractor": "Lamentamos oír eso. ¿Qué deberíamos mejorar?",
            "passive": "Gracias. ¿Qué haría que {product} fuera aún mejor para usted?",
            "promoter": "¡Estupendo! ¿Qué es lo que más le gusta de {product}?",
        },
    },
}

# Scale end labels that differ from the NPS "likely" wording.
_SCALE_LABELS = {
    "csat": {
        "en": ("Very dissatisfied", "Very satisfied"),
        "de": ("Sehr unzufrieden", "Sehr zufrieden"),
        "fr": ("Très insatisfait", "Très satisfait"),
        "es": ("Muy insatisfecho", "Muy satisfecho"),
    },
    "ces": {
        "en": ("Very difficult", "Very easy"),
        "de": ("Sehr schwierig", "Sehr einfach"),
        "fr": ("Très difficile", "Très facile"),
        "es": ("Muy difícil", "Muy fácil"),
    },
}


def default_texts(kind: str, locale: str) -> dict[str, Any]:
    """The built-in texts of a survey kind in one of LOCALES."""
    texts = {**_COMMON[locale], "question": _QUESTIONS[kind][locale]}
    if kind in _SCALE_LABELS:
        texts["low_label"], texts["high_label"] = _SCALE_LABELS[kind][locale]
    return texts


def pick_locale(contact_locale: str | None, available: set[str], default: str) -> str:
    """The contact's locale (or its language, de-CH -> de) if available, else the default."""
    for candidate in (contact_locale or "", (contact_locale or "").split("-")[0].split("_")[0]):
        if candidate.lower() in available:
            return candidate.lower()
    return default if default in available else FALLBACK_LOCALE


def resolve_texts(
    kind: str, custom: dict[str, dict], default_locale: str, contact_locale: str | None
) -> tuple[str, dict[str, Any]]:
    """(locale, texts) for a contact: custom texts over built-in ones, per key, with fallbacks."""
    available = set(LOCALES) | set(custom)
    locale = pick_locale(contact_locale, available, default_locale)
    base_locale = locale if locale in LOCALES else FALLBACK_LOCALE
    merged = default_texts(kind, base_locale)
    for layer in (custom.get(default_locale, {}), custom.get(locale, {})):
        follow_up = {**merged["follow_up"], **layer.get("follow_up", {})}
        merged.update({key: value for key, value in layer.items() if value})
        merged["follow_up"] = follow_up
    return locale, merged


def fill(text: str, **values: str) -> str:
    """Replace {product} and {name}; unknown braces are left as they are."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text
