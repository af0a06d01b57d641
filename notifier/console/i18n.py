"""The console's words in French and English, and which language a visitor reads.

The language is the visitor's choice (the ``lang`` setting, kept in a cookie), else the
first of ``fr``/``en`` their browser asks for (``Accept-Language``), else the
configuration's ``defaults.locale``.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["LANGUAGES", "choose", "translator"]

LANGUAGES = ("fr", "en")

#: English text -> French text. A missing entry shows the English text.
_FR = {
    "Console": "Console",
    "Queue": "File d'attente",
    "Deliveries": "Envois",
    "Route tester": "Testeur de routes",
    "Configuration": "Configuration",
    "Digest": "Résumé",
    "Health": "Santé",
    "Log in": "Se connecter",
    "Log out": "Se déconnecter",
    "API token": "Jeton d'API",
    "Log in with an API token: read to look, admin to act.":
        "Connectez-vous avec un jeton d'API : read pour consulter, admin pour agir.",
    "No token is configured: the console is open on this machine.":
        "Aucun jeton n'est configuré : la console est ouverte sur cette machine.",
    "Wrong or unknown token.": "Jeton inconnu ou erroné.",
    "This token may only post events (events:write): log in with a read or admin token.":
        "Ce jeton ne peut que poster des événements (events:write) : connectez-vous avec un jeton read ou admin.",
    "Your session expired or the form is stale: try again.":
        "Votre session a expiré ou le formulaire est périmé : recommencez.",
    "Signed in as": "Connecté en tant que",
    "read only": "lecture seule",
    "Language": "Langue",
    "Site": "Site",
    "Kind": "Type",
    "Status": "État",
    "Waiting": "Attente",
    "Target": "Objectif",
    "late": "en retard",
    "Escalation": "Escalade",
    "its visitor was erased: nothing to send": "son visiteur a été effacé : rien à envoyer",
    "closed: its visitor's data was erased, nobody is left to answer":
        "fermé : les données de son visiteur ont été effacées, plus personne à qui répondre",
    "visitor erased": "visiteur effacé",
    "Not replayed: its event was erased (the visitor's data), nothing is left to send":
        "Pas renvoyée : son événement a été effacé (les données du visiteur), il ne reste rien à envoyer",
    "Actions": "Actions",
    "Opened": "Ouvert",
    "Claim": "Prendre",
    "Resolve": "Résoudre",
    "Reopen": "Rouvrir",
    "claimed by": "pris par",
    "resolved by": "résolu par",
    "No case here.": "Aucun cas ici.",
    "Previous": "Précédent",
    "Next": "Suivant",
    "Page": "Page",
    "of": "sur",
    "cases": "cas",
    "active": "actifs",
    "open": "ouvert",
    "reopened": "rouvert",
    "claimed": "pris",
    "resolved": "résolu",
    "all": "tous",
    "Live: new cases appear here without reloading.":
        "En direct : les nouveaux cas apparaissent ici sans recharger.",
    "Done": "Fait",
    "Unchanged": "Inchangé",
    "Refused": "Refusé",
    "Your token may only read: acting needs the admin scope.":
        "Votre jeton ne permet que la lecture : agir demande la portée admin.",
    "Filter": "Filtrer",
    "no target": "sans objectif",
    "level": "niveau",
    "Case": "Cas",
    "Conversation": "Conversation",
    "Transcript": "Transcription",
    "Message": "Message",
    "User": "Utilisateur",
    "Page of the chat": "Page de la discussion",
    "Name": "Nom",
    "Email": "E-mail",
    "Phone": "Téléphone",
    "hidden by the privacy policy": "masqué par la politique de confidentialité",
    "Events": "Événements",
    "Channel": "Canal",
    "Route": "Route",
    "Attempts": "Tentatives",
    "Error": "Erreur",
    "Sent": "Envoyé",
    "Created": "Créé",
    "When": "Quand",
    "Who": "Qui",
    "From": "Depuis",
    "Action": "Action",
    "Outcome": "Résultat",
    "Note": "Note",
    "Helpdesk ticket": "Ticket d'assistance",
    "Escalations": "Escalades",
    "Replay": "Renvoyer",
    "Replay all dead letters": "Renvoyer toutes les lettres mortes",
    "Dead letters": "Lettres mortes",
    "Reason": "Raison",
    "Since": "Depuis",
    "Until": "Jusqu'à",
    "any": "tous",
    "No delivery matches.": "Aucun envoi ne correspond.",
    "Replayed": "Renvoyé(s)",
    "Event (JSON)": "Événement (JSON)",
    "Try": "Essayer",
    "matches": "correspond",
    "does not match": "ne correspond pas",
    "What each channel would receive": "Ce que chaque canal recevrait",
    "No channel would receive it (it is stored and counted in digests).":
        "Aucun canal ne le recevrait (il est enregistré et compté dans les résumés).",
    "The event is not valid": "L'événement n'est pas valide",
    "fallback: no route took this request": "repli : aucune route n'a pris cette demande",
    "Reload the configuration": "Recharger la configuration",
    "Configuration reloaded.": "Configuration rechargée.",
    "The running configuration stays: ": "La configuration en cours reste : ",
    "Check": "Vérification",
    "No problem found.": "Aucun problème trouvé.",
    "Channels": "Canaux",
    "Last success": "Dernier succès",
    "Last error": "Dernière erreur",
    "In flight": "En cours",
    "Concurrency": "Concurrence",
    "never": "jamais",
    "Date": "Date",
    "Show": "Afficher",
    "Deliveries per hour (last 24 h)": "Envois par heure (24 dernières heures)",
    "Send time": "Durée d'envoi",
    "Deliveries by status": "Envois par état",
    "Errors per hour (last 24 h)": "Erreurs par heure (24 dernières heures)",
    "Skip to content": "Aller au contenu",
    "Not found": "Introuvable",
    "The database is unavailable for a moment: try again shortly.":
        "La base de données est momentanément indisponible : réessayez dans un instant.",
}

_CATALOGUES = {"fr": _FR, "en": {}}


def choose(setting: str | None, accept_language: str | None, default: str) -> str:
    """The language to show: the visitor's setting, their browser's wish, or ``default``."""
    if setting in LANGUAGES:
        return setting
    wishes: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        lang = tag.strip().lower()[:2]
        if lang in LANGUAGES and quality > 0:
            wishes.append((-quality, i, lang))
    if wishes:
        return min(wishes)[2]
    return default if default in LANGUAGES else "en"


def translator(lang: str) -> Callable[[str], str]:
    """``_(text)`` for ``lang``: the catalogue's text, or the English one."""
    catalogue = _CATALOGUES.get(lang, {})
    return lambda text: catalogue.get(text, text)
