"""Demo members: about 250 fictional organisations and experts in some 55 countries.

Everything here is made up from word lists: no real organisation, person,
address or website. Email addresses and websites are on the reserved
``example.org`` and ``example.net`` domains. The same random
generator seed gives the same members (for the same day: dates are counted
back from today).

``plan_members`` decides who the members are and what happened to them;
``seed_members`` records them through the registry's operations (so the
audit log, the status history and the derived fields are what real use would
give), and ``seed_members_in_bulk`` builds the same members as plain objects
without audit rows, for the benchmark's tens of thousands.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from coalition.accounts.models import User
from coalition.countries import country_name, fold, region_of
from coalition.db import utcnow
from coalition.extensions import db
from coalition.members import operations as ops
from coalition.members.models import (
    FocusArea,
    Member,
    MemberContact,
    MemberKind,
    MemberStatus,
    MemberStatusChange,
    OrgType,
)

DEMO_SIZE = 250
CONSENT_WORDING = (
    "We agree that the coalition lists our name, country, type, focus areas and "
    "website in its public member directory. We can withdraw this at any time."
)

# Home countries, weighted towards where the coalition works. Every one of
# them gets at least one member before any gets a second.
COUNTRY_WEIGHTS: dict[str, int] = {
    # Sub-Saharan Africa
    "KE": 9, "NG": 9, "ZA": 8, "GH": 6, "SN": 6, "UG": 5, "ET": 4, "TZ": 4, "ZW": 4,
    "ZM": 3, "MW": 2, "MZ": 3, "RW": 3, "CM": 3, "CI": 3, "ML": 2, "BF": 2, "NE": 1,
    "TD": 1, "MR": 1, "BW": 2, "NA": 2, "SS": 1, "GW": 1, "MU": 1, "CD": 3, "SD": 2,
    "BJ": 2, "TG": 1,
    # Middle East and North Africa
    "TN": 4, "DZ": 2, "MA": 3, "EG": 2, "LB": 3, "JO": 2, "PS": 2, "IQ": 1, "YE": 1,
    # Latin America
    "BR": 6, "MX": 4, "CO": 4, "AR": 3, "CL": 2, "PE": 2, "GT": 2, "BO": 1,
    # Asia
    "IN": 5, "PK": 3, "BD": 3, "LK": 2, "PH": 4, "ID": 3, "MM": 2,
    # Europe and North America
    "GB": 3, "DE": 2, "FR": 2, "NL": 1, "US": 3,
}  # fmt: skip

FRENCH = {"SN", "CI", "ML", "BF", "NE", "TD", "MR", "CM", "CD", "BJ", "TG", "TN", "DZ", "MA", "FR"}
PORTUGUESE = {"BR", "MZ", "GW"}
SPANISH = {"MX", "CO", "AR", "CL", "PE", "GT", "BO"}
ARABIC = {"EG", "LB", "JO", "PS", "IQ", "YE", "SD", "TN", "DZ", "MA", "MR", "TD"}
LOCAL_LANGUAGES = {
    "KE": "sw", "TZ": "sw", "UG": "sw", "ET": "am", "NG": "ha", "GH": "tw", "SN": "wo",
    "ZA": "zu", "ZW": "sn", "RW": "rw", "ML": "bm", "IN": "hi", "PK": "ur", "BD": "bn",
    "LK": "si", "PH": "tl", "ID": "id", "MM": "my", "DE": "de", "NL": "nl",
}  # fmt: skip

# Invented names: made-up words, never those of real groups.
NAME_WORDS = [
    "Kestrel", "Baobab", "Tamarind", "Lantern", "Harmattan", "Meridian", "Sable", "Ibis",
    "Acacia", "Juniper", "Marula", "Mangrove", "Cormorant", "Sunbird", "Quill", "Compass",
    "Beacon", "Loom", "Weaver", "Tidewater", "Ember", "Granary", "Obsidian", "Heron",
    "Firefly", "Kapok", "Saltpan", "Jacaranda", "Sorghum", "Monsoon", "Cinnabar", "Orrery",
]  # fmt: skip
FORMS_EN = ["Centre", "Lab", "Collective", "Observatory", "Forum", "Network", "Initiative", "Trust"]
TOPICS_EN = [
    "Digital Rights", "Information Integrity", "Election Monitoring", "Civic Technology",
    "Media Freedom", "Platform Accountability", "Open Democracy", "Online Safety",
]  # fmt: skip
FORMS_FR = ["Collectif", "Observatoire", "Réseau", "Association", "Laboratoire"]
TOPICS_FR = [
    "les Droits Numériques", "l'Intégrité de l'Information", "la Démocratie en Ligne",
    "les Médias Indépendants", "la Vérification des Faits",
]  # fmt: skip
FORMS_PT = ["Instituto", "Coletivo", "Observatório", "Laboratório"]
TOPICS_PT = ["Direitos Digitais", "Democracia em Rede", "Integridade da Informação"]
FORMS_ES = ["Fundación", "Colectivo", "Observatorio", "Laboratorio", "Red"]
TOPICS_ES = ["Derechos Digitales", "Integridad Electoral", "Tecnología Cívica", "Medios Libres"]
NAMES_AR = ["مرصد", "شبكة", "مختبر", "منتدى"]
TOPICS_AR = ["الحقوق الرقمية", "نزاهة المعلومات", "مساءلة المنصات", "الإعلام الحر"]
WORDS_AR = ["النخلة", "الفنار", "البوصلة", "السنبلة", "الواحة", "القمر"]

FIRST_NAMES = [
    "Thandiwe", "Tendai", "Moussa", "João", "Maria", "Sipho", "Siti", "Chidi", "Grace",
    "Omar", "Amina", "Léa", "Aisha", "Elif", "Yusuf", "Priya", "Nadia", "Fatou", "Ana",
    "Kofi", "Wanjiru", "Abebe", "Rania", "Layla", "Mateo", "Camila", "Arjun", "Nimal",
    "Farah", "Tariq", "Zainab", "Bongani", "Nkechi", "Esi", "Awa", "Ibrahim", "Lucía",
    "Rafael", "Mei", "Dewi", "Joseph", "Chipo", "Halima", "Sami", "Ines", "Thabo",
]  # fmt: skip
LAST_NAMES = [
    "Moyo", "Karimi", "Boateng", "Mensah", "Kamara", "Traoré", "Diallo", "Haidar", "Sharma",
    "Okoye", "Ndlovu", "Silva", "Otieno", "Rahman", "Banda", "Haddad", "Mwangi", "Osei",
    "Tesfaye", "Nakato", "Sow", "Ferreira", "Gómez", "Rojas", "Perera", "Santos", "Khan",
    "Hossain", "Reyes", "Wijaya", "Phiri", "Mutasa", "Adeyemi", "Nkosi", "Benali", "Saleh",
]  # fmt: skip
CONTACT_ROLES = ["Director", "Programme lead", "Coordinator", "Researcher", "Communications"]
REJECTIONS = [
    "Outside the coalition's focus on platform accountability.",
    "A for-profit consultancy: membership is for civil society.",
    "Could not confirm the organisation's independence.",
]
NOTES = [
    "Met at the regional convening; strong on election monitoring.",
    "Prefers contact by encrypted messenger; see the contact's note.",
    "Co-led the 2024 platform transparency letter.",
    "Shares research with two other members in the region.",
]

# Of every hundred members: what their status is today.
STATUS_SHARES = {
    MemberStatus.APPLIED: 7,
    MemberStatus.REJECTED: 6,
    MemberStatus.SUSPENDED: 4,
    MemberStatus.LAPSED: 9,
    MemberStatus.WITHDRAWN: 6,
    MemberStatus.ACTIVE: 68,
}
YEARS_BACK = 6


@dataclass
class Planned:
    """One demo member: its fields, its lists, and its status history (oldest first)."""

    values: dict[str, Any]
    focus_areas: list[FocusArea]
    work_countries: list[str]
    contacts: list[dict[str, Any]]
    history: list[tuple[MemberStatus, datetime, str | None]]
    last_confirmed_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> MemberStatus:
        return self.history[-1][0]


def _at(day: date, rng: random.Random) -> datetime:
    """A time during office hours on ``day``, in UTC."""
    return datetime.combine(day, time(rng.randint(7, 17), rng.randint(0, 59)), tzinfo=UTC)


def _slug(text: str) -> str:
    return "".join(ch for ch in fold(text) if ch.isalnum())


def _statuses(rng: random.Random, count: int) -> list[MemberStatus]:
    statuses: list[MemberStatus] = []
    for status, share in STATUS_SHARES.items():
        if status != MemberStatus.ACTIVE:
            statuses += [status] * round(count * share / 100)
    statuses = statuses[:count]
    statuses += [MemberStatus.ACTIVE] * (count - len(statuses))
    rng.shuffle(statuses)
    return statuses


def _countries(rng: random.Random, count: int) -> list[str]:
    codes = list(COUNTRY_WEIGHTS)
    chosen = codes[:count]
    if count > len(codes):
        chosen += rng.choices(codes, weights=list(COUNTRY_WEIGHTS.values()), k=count - len(codes))
    rng.shuffle(chosen)
    return chosen


def _org_name(rng: random.Random, country: str) -> str:
    word = rng.choice(NAME_WORDS)
    if country in ARABIC and rng.random() < 0.35:
        return f"{rng.choice(NAMES_AR)} {rng.choice(WORDS_AR)} {rng.choice(TOPICS_AR)}"
    if country in FRENCH:
        return f"{rng.choice(FORMS_FR)} {word} pour {rng.choice(TOPICS_FR)}"
    if country in PORTUGUESE:
        return f"{rng.choice(FORMS_PT)} {word} de {rng.choice(TOPICS_PT)}"
    if country in SPANISH:
        return f"{rng.choice(FORMS_ES)} {word} de {rng.choice(TOPICS_ES)}"
    name = f"{word} {rng.choice(FORMS_EN)} for {rng.choice(TOPICS_EN)}"
    return name if rng.random() < 0.5 else f"{name} {country_name(country)}"


def _acronym(name: str) -> str | None:
    letters = [w[0] for w in name.split() if w[:1].isupper() and w.isalpha()]
    return "".join(letters) if 2 <= len(letters) <= 6 else None


def _person(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)


def _languages(rng: random.Random, country: str) -> list[str]:
    if country in FRENCH:
        main = "fr"
    elif country in PORTUGUESE:
        main = "pt"
    elif country in SPANISH:
        main = "es"
    elif country in ARABIC:
        main = "ar"
    else:
        main = "en"
    languages = [main]
    if country in LOCAL_LANGUAGES:
        languages.append(LOCAL_LANGUAGES[country])
    if main != "en" and rng.random() < 0.5:
        languages.append("en")
    if country in ARABIC and main != "ar":
        languages.append("ar")
    return languages


def _history(
    rng: random.Random, status: MemberStatus, today: date, founded: date, founder: bool
) -> tuple[list[tuple[MemberStatus, datetime, str | None]], date | None]:
    """What happened to a member that is ``status`` today; and the day it joined, if it did."""
    span = (today - founded).days
    if status == MemberStatus.APPLIED:
        applied = today - timedelta(days=rng.randint(1, 60))
        return [(MemberStatus.APPLIED, _at(applied, rng), None)], None
    if status == MemberStatus.REJECTED:
        applied = today - timedelta(days=rng.randint(40, 3 * 365))
        rejected = applied + timedelta(days=rng.randint(7, 35))
        return [
            (MemberStatus.APPLIED, _at(applied, rng), None),
            (MemberStatus.REJECTED, _at(rejected, rng), rng.choice(REJECTIONS)),
        ], None
    # Everyone else joined; those who left need time to have done so.
    latest_join = {
        MemberStatus.LAPSED: 430,
        MemberStatus.SUSPENDED: 60,
        MemberStatus.WITHDRAWN: 60,
    }.get(status, 1)
    if founder:
        joined = founded
        history = [(MemberStatus.ACTIVE, _at(joined, rng), "Founding member")]
    else:
        # More members joined lately than early on: the coalition grew.
        days_ago = latest_join + int((span - latest_join) * rng.random() ** 1.5)
        joined = today - timedelta(days=days_ago)
        applied = joined - timedelta(days=rng.randint(10, 45))
        history = [
            (MemberStatus.APPLIED, _at(applied, rng), None),
            (MemberStatus.ACTIVE, _at(joined, rng), "Approved by the convenor"),
        ]
    last = joined
    room = (today - last).days
    if status == MemberStatus.ACTIVE and room > 500 and rng.random() < 0.15:
        # A lapse, then a late confirmation: active again.
        lapsed = last + timedelta(days=rng.randint(430, room - 40))
        back = lapsed + timedelta(days=rng.randint(5, min(35, (today - lapsed).days - 1)))
        history += [
            (MemberStatus.LAPSED, _at(lapsed, rng), "No yearly confirmation"),
            (MemberStatus.ACTIVE, _at(back, rng), "Membership confirmed"),
        ]
    elif status == MemberStatus.ACTIVE and room > 200 and rng.random() < 0.06:
        suspended = last + timedelta(days=rng.randint(60, room - 60))
        back = suspended + timedelta(days=rng.randint(20, 50))
        history += [
            (MemberStatus.SUSPENDED, _at(suspended, rng), "Code of conduct review"),
            (MemberStatus.ACTIVE, _at(back, rng), "Review closed"),
        ]
    elif status == MemberStatus.LAPSED:
        lapsed = last + timedelta(days=rng.randint(425, max(426, room - 1)))
        history.append(
            (MemberStatus.LAPSED, _at(min(lapsed, today), rng), "No yearly confirmation")
        )
    elif status == MemberStatus.SUSPENDED:
        suspended = last + timedelta(days=rng.randint(30, max(31, room - 1)))
        history.append(
            (MemberStatus.SUSPENDED, _at(min(suspended, today), rng), "Code of conduct review")
        )
    elif status == MemberStatus.WITHDRAWN:
        withdrawn = last + timedelta(days=rng.randint(30, max(31, room - 1)))
        history.append(
            (MemberStatus.WITHDRAWN, _at(min(withdrawn, today), rng), "Left the coalition")
        )
    return history, joined


def plan_members(
    rng: random.Random, count: int = DEMO_SIZE, *, now: datetime | None = None
) -> list[Planned]:
    """Decide ``count`` fictional members; the same generator state gives the same members."""
    now = now or utcnow()
    today = now.date()
    founded = today - timedelta(days=365 * YEARS_BACK)
    statuses = _statuses(rng, count)
    countries = _countries(rng, count)
    names: set[str] = set()
    plans: list[Planned] = []
    founders = max(1, count // 10)
    for n, (status, country) in enumerate(zip(statuses, countries, strict=True), start=1):
        expert = rng.random() < 0.2
        first, last = _person(rng)
        if expert:
            name = f"{first} {last}"
            if name in names:
                name = f"{first} {rng.choice(FIRST_NAMES)[0]}. {last}"
            org_type = None
            domain = f"{_slug(first)}{_slug(last)}{n}.example.net"
            website = f"https://{domain}" if rng.random() < 0.3 else None
        else:
            name = _org_name(rng, country)
            for _try in range(5):
                if name not in names:
                    break
                name = _org_name(rng, country)
            org_type = rng.choice(list(OrgType))
            word = _slug(name.split()[1] if len(name.split()) > 1 else name) or "member"
            domain = f"{word[:12]}{n}.{rng.choice(['example.org', 'example.net'])}"
            website = f"https://{rng.choice(['', 'www.'])}{domain}"
        if name in names:
            # Word lists run out of new names at benchmark scale: number them, as
            # spreadsheets of fictional members do.
            name = f"{name} {n}"
        names.add(name)
        joined_founder = status != MemberStatus.APPLIED and status != MemberStatus.REJECTED
        history, joined_on = _history(
            rng, status, today, founded, founder=joined_founder and n <= founders
        )
        at_risk = rng.random() < 0.08
        consent = status != MemberStatus.REJECTED and rng.random() < 0.72
        region = region_of(country)
        neighbours = [c for c in COUNTRY_WEIGHTS if c != country and region_of(c) == region]
        work = rng.sample(neighbours, k=min(len(neighbours), rng.choice([0, 0, 1, 1, 2, 3])))
        contacts = [
            {
                "name": f"{first} {last}",
                "email": f"{_slug(first)}.{_slug(last)}@{domain}",
                "role": None if expert else rng.choice(CONTACT_ROLES),
                "is_primary": True,
            }
        ]
        if not expert and rng.random() < 0.4:
            other_first, other_last = _person(rng)
            contacts.append(
                {
                    "name": f"{other_first} {other_last}",
                    "email": f"{_slug(other_first)}.{_slug(other_last)}@{domain}",
                    "role": rng.choice(CONTACT_ROLES),
                    "is_primary": False,
                }
            )
        values: dict[str, Any] = {
            "kind": MemberKind.EXPERT if expert else MemberKind.ORGANISATION,
            "name": name,
            "acronym": None if expert else _acronym(name),
            "org_type": org_type,
            "country": country,
            "website": website,
            "languages": _languages(rng, country),
            "notes": rng.choice(NOTES) if rng.random() < 0.15 else None,
            "joined_on": joined_on,
            "consent_public": consent,
            "consent_wording": CONSENT_WORDING if consent else None,
            "at_risk": at_risk,
        }
        plan = Planned(
            values=values,
            focus_areas=rng.sample(list(FocusArea), k=rng.randint(1, 3)),
            work_countries=work,
            contacts=contacts,
            history=history,
        )
        if plan.status == MemberStatus.ACTIVE:
            plan.last_confirmed_at = _at(today - timedelta(days=rng.randint(1, 340)), rng)
            back = history[-1]
            if back[2] == "Membership confirmed" and back[1].date() > today - timedelta(days=340):
                # Their late confirmation is the last one.
                plan.last_confirmed_at = back[1]
        elif plan.status == MemberStatus.LAPSED:
            plan.last_confirmed_at = history[-1][1] - timedelta(days=430)
        if consent:
            plan.extra["consent_at"] = history[0][1]
        plans.append(plan)
    _give_steering_seats(rng, plans, today)
    return plans


def _give_steering_seats(rng: random.Random, plans: list[Planned], today: date) -> None:
    """About ten organisations hold a seat today; a few held one before."""
    organisations = [
        p
        for p in plans
        if p.values["kind"] == MemberKind.ORGANISATION and p.status == MemberStatus.ACTIVE
    ]
    seated = rng.sample(organisations, k=min(len(organisations), 10))
    for plan in seated:
        plan.values["steering_from"] = today - timedelta(days=rng.randint(30, 700))
        plan.values["steering_until"] = (
            None if rng.random() < 0.5 else today + timedelta(days=rng.randint(60, 700))
        )
    former = [p for p in organisations if p not in seated][:4]
    for plan in former:
        start = today - timedelta(days=rng.randint(900, 1800))
        plan.values["steering_from"] = start
        plan.values["steering_until"] = start + timedelta(days=730)


def seed_members(
    rng: random.Random,
    count: int = DEMO_SIZE,
    *,
    contact_user: User | None = None,
    now: datetime | None = None,
) -> list[Member]:
    """Record the demo members through the registry's operations (actor: none).

    The audit log and status history are written as real use writes them,
    then the history is dated back to when the plan says it happened.
    ``contact_user`` (the demo member-contact account) becomes a contact of
    one active, consenting organisation. Flushes; the caller commits.
    """
    members = []
    for plan in plan_members(rng, count, now=now):
        first_status, _first_at, first_reason = plan.history[0]
        member = ops.create_member(
            actor=None,
            values=plan.values,
            focus_areas=plan.focus_areas,
            work_countries=plan.work_countries,
            contacts=plan.contacts,
            status=first_status,
            reason=first_reason,
        )
        for status, _at_time, reason in plan.history[1:]:
            ops.change_status(member, status, actor=None, reason=reason)
        _date_history(member, plan)
        members.append(member)
    if contact_user is not None:
        _link_contact(members, contact_user)
    db.session.flush()
    return members


def _date_history(member: Member, plan: Planned) -> None:
    """Put the plan's times on the status history the operations wrote just now."""
    # A new member's history holds the rows in the order the operations appended them.
    for row, (_status, at, _reason) in zip(member.status_changes, plan.history, strict=True):
        row.created_at = at
    member.created_at = plan.history[0][1]
    member.status_changed_at = plan.history[-1][1]
    member.last_confirmed_at = plan.last_confirmed_at
    member.joined_on = plan.values["joined_on"]
    if "consent_at" in plan.extra:
        member.consent_at = plan.extra["consent_at"]


def _link_contact(members: list[Member], user: User) -> None:
    for member in members:
        if member.kind == MemberKind.ORGANISATION and member.is_public:
            member.contacts.append(
                MemberContact(
                    name=user.name, email=user.email, role="Demo account", user_id=user.id
                )
            )
            member.refresh_search_text()
            return


def seed_members_in_bulk(
    rng: random.Random, count: int, *, now: datetime | None = None, batch: int = 2000
) -> int:
    """Insert ``count`` demo members fast, without audit rows (for the benchmark).

    The same plan as ``seed_members``; the model's own setters derive the
    region, the folded name and the web domain. Flushes each batch; the
    caller commits.
    """
    added = 0
    pending: list[Member] = []
    for plan in plan_members(rng, count, now=now):
        member = Member(**plan.values)
        member.status = plan.status
        member.created_at = plan.history[0][1]
        member.status_changed_at = plan.history[-1][1]
        member.last_confirmed_at = plan.last_confirmed_at
        member.consent_at = plan.extra.get("consent_at")
        member.focus_areas = plan.focus_areas
        member.work_countries = plan.work_countries
        member.contacts = [MemberContact(**contact) for contact in plan.contacts]
        previous = None
        for status, at, reason in plan.history:
            member.status_changes.append(
                MemberStatusChange(
                    from_status=previous, to_status=status, reason=reason, created_at=at
                )
            )
            previous = status
        member.refresh_search_text()
        pending.append(member)
        if len(pending) >= batch:
            added += _flush_batch(pending)
            pending = []
    return added + _flush_batch(pending)


def _flush_batch(members: list[Member]) -> int:
    """Insert a batch, then let go of it (and its rows, by cascade) to keep memory flat."""
    db.session.add_all(members)
    db.session.flush()
    for member in members:
        db.session.expunge(member)
    return len(members)
