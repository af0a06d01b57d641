"""A corpus of chatbot texts with the expected redaction, in French and English.

Each entry is ``(text, expected)`` where ``expected`` is the text after
``redact(text, locale="fr")``. Half the entries hold numbers that are *not* personal
data (orders, dates, prices, postcodes, tracking numbers, versions): they must survive.
Used by ``tests/core/test_redact.py`` and ``bench/redaction.py`` (precision/recall).
"""
from __future__ import annotations

CORPUS: list[tuple[str, str]] = [
    # --- personal data to hide ---
    ("Bonjour, mon adresse est marie.dupont@example.fr, merci de me recontacter.",
     "Bonjour, mon adresse est [email], merci de me recontacter."),
    ("Vous pouvez m'appeler au 06 12 34 56 78 après 18h.",
     "Vous pouvez m'appeler au [téléphone] après 18h."),
    ("Mon numéro : +33 6 12 34 56 78 ou le fixe 01.42.68.53.00",
     "Mon numéro : [téléphone] ou le fixe [téléphone]"),
    ("Call me on +44 20 7946 0958 or email john.smith+support@mail.example.co.uk",
     "Call me on [téléphone] or email [email]"),
    ("J'ai payé avec la carte 4970 1012 3456 7893 mais rien reçu",
     "J'ai payé avec la carte [carte] mais rien reçu"),
    ("card number 4111-1111-1111-1111 exp 12/27 was charged twice",
     "card number [carte] exp 12/27 was charged twice"),
    ("Amex 378282246310005 refused", "Amex [carte] refused"),
    ("Remboursez sur mon IBAN FR76 3000 6000 0112 3456 7890 189 svp",
     "Remboursez sur mon IBAN [iban] svp"),
    ("My IBAN is GB82WEST12345698765432, thanks", "My IBAN is [iban], thanks"),
    ("IBAN: DE89 3704 0044 0532 0130 00.", "IBAN: [iban]."),
    ("Connexion refusée depuis 192.168.1.42 ce matin",
     "Connexion refusée depuis [ip] ce matin"),
    ("my ip is 2001:db8:85a3::8a2e:370:7334 apparently",
     "my ip is [ip] apparently"),
    ("Contact: paul@exemple.com / 07 98 76 54 32 / IP 203.0.113.7",
     "Contact: [email] / [téléphone] / IP [ip]"),
    ("tel 0612345678 svp", "tel [téléphone] svp"),
    ("Numéro belge +32 470 12 34 56", "Numéro belge [téléphone]"),
    ("US number (415) 555-2671? no, +1 415-555-2671", "US number (415) 555-2671? no, [téléphone]"),
    # --- numbers that must survive ---
    ("Ma commande 123456789 n'est pas arrivée", "Ma commande 123456789 n'est pas arrivée"),
    ("Livraison prévue le 12/03/2026 à 14:30", "Livraison prévue le 12/03/2026 à 14:30"),
    ("Le total était de 1 249,99 € TTC", "Le total était de 1 249,99 € TTC"),
    ("J'habite 12 rue de la Paix, 75002 Paris", "J'habite 12 rue de la Paix, 75002 Paris"),
    ("Suivi Colissimo 6A12345678901, toujours bloqué", "Suivi Colissimo 6A12345678901, toujours bloqué"),
    ("UPS tracking 1Z999AA10123456784 says delivered", "UPS tracking 1Z999AA10123456784 says delivered"),
    ("Facture n° FAC-2026-000123 du 03/01/2026", "Facture n° FAC-2026-000123 du 03/01/2026"),
    ("Version 2.14.3 de l'appli, build 20260312", "Version 2.14.3 de l'appli, build 20260312"),
    ("Order #4000123456 placed on 2026-03-12 for $89.90", "Order #4000123456 placed on 2026-03-12 for $89.90"),
    ("Référence client 98765432101234, SIRET 732 829 320 00074",
     "Référence client 98765432101234, SIRET 732 829 320 00074"),
    ("Le rendez-vous est à 09:15:00, salle 3", "Le rendez-vous est à 09:15:00, salle 3"),
    ("J'ai acheté 3 articles à 19,90 € soit 59,70 €", "J'ai acheté 3 articles à 19,90 € soit 59,70 €"),
    ("Numéro de colis 8R00123456789 (Chronopost)", "Numéro de colis 8R00123456789 (Chronopost)"),
    ("Code promo NOEL2026 ne marche pas", "Code promo NOEL2026 ne marche pas"),
    ("ticket 2026-03-12-0042 still open after 48 hours", "ticket 2026-03-12-0042 still open after 48 hours"),
    # 16 digits that fail the Luhn check: a reference, not a card.
    ("Référence dossier 4970 1012 3456 7899", "Référence dossier 4970 1012 3456 7899"),
    ("Le modèle XPS 13 9310 à 1299 €", "Le modèle XPS 13 9310 à 1299 €"),
]
