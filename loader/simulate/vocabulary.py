"""The simulated Canvas word lists, and the logins, tokens and letter grades made from them."""

from __future__ import annotations

import random
import unicodedata

HOST = "https://canvas.example.edu"
EMAIL_DOMAIN = "example.edu"

FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Mateo", "Sofía", "Ethan", "Amara", "Lucas",
    "Chloé", "Wei", "Priya", "Omar", "Zoë", "José", "Hannah", "Kwame", "Mia", "Diego",
    "Aisha", "Jonas", "Siobhán", "Hiroshi", "Isabella", "Renée", "Tariq", "Grace",
    "Mohammed", "Elena", "Caleb", "Ananya", "Felix", "Nadia", "Samuel", "Yuki", "Leah",
    "Andrés", "Fatima", "Owen",
)
LAST_NAMES = (
    "García", "Smith", "Nguyễn", "Johnson", "Müller", "Patel", "O'Brien", "Kim", "Williams",
    "Okafor", "Rossi", "Brown", "Dubois", "Silva", "Andersson", "Kowalski", "Martínez",
    "Chen", "Jones", "Haddad", "Van der Berg", "Schmidt", "Ivanova", "Mensah", "Taylor",
    "Novak", "Yamamoto", "López", "Davies", "Cohen", "Singh", "Moreau", "Hernández",
    "Wilson", "Nakamura", "Fischer", "Osei", "Ramírez", "Murphy", "Lee",
)
LOCALES = ("en",) * 6 + ("es", "de", "zh-Hans", None)
SUBJECTS = (
    ("BIO", "Introduction to Biology"),
    ("CHEM", "General Chemistry"),
    ("MATH", "Calculus I"),
    ("HIST", "World History since 1500"),
    ("ENG", "English Composition"),
    ("PHYS", "Physics for Engineers"),
    ("CS", "Introduction to Programming"),
    ("ECON", "Principles of Microeconomics"),
    ("PSY", "Introduction to Psychology"),
    ("STAT", "Applied Statistics"),
    ("SPAN", "Elementary Spanish"),
    ("ART", "Survey of Art History"),
)
DEFAULT_VIEWS = ("modules", "modules", "assignments", "syllabus", "feed", "wiki")
LICENSES = ("private", "private", "cc_by", "cc_by_sa", "public_domain")
# (label, submission_types, grading_type, points_possible choices)
ASSIGNMENT_KINDS = (
    ("Problem Set", ("online_upload",), "points", (10.0, 20.0, 25.0)),
    ("Quiz", ("online_quiz",), "points", (10.0, 15.0, 20.0)),
    ("Lab Report", ("online_upload", "online_text_entry"), "points", (25.0, 50.0)),
    ("Reading Response", ("online_text_entry",), "pass_fail", (5.0, 10.0)),
    ("Essay", ("online_upload",), "letter_grade", (100.0,)),
    ("Discussion Post", ("online_text_entry",), "percent", (10.0,)),
    ("Midterm Exam", ("on_paper",), "points", (100.0,)),
    ("Project Milestone", ("online_url", "online_upload"), "points", (50.0, 100.0)),
)
ONLINE_TYPES = {
    "online_upload", "online_quiz", "online_text_entry", "online_url",
    "media_recording", "student_annotation",
}
INSTRUCTIONS = (
    "Show all of your work.",
    "Use at least two peer-reviewed sources.",
    "Submit a single PDF.",
    "Answer every question in complete sentences.",
)
BODY_TEXTS = (
    "<p>My analysis of the data set is below.</p>",
    "<p>There are three factors to consider here.</p>",
    "<p>I agree with the reading's main argument, with one caveat.</p>",
    "<p>See my answers to questions 1-4.</p>",
)
COMMENTS = (
    "Nice work, see the rubric for details.",
    "Please cite your sources next time.",
    "Good structure; the conclusion needs more evidence.",
    "Well argued.",
)
_LETTERS = (
    (93, "A"), (90, "A-"), (87, "B+"), (83, "B"), (80, "B-"), (77, "C+"),
    (73, "C"), (70, "C-"), (67, "D+"), (60, "D"),
)
ROLE_IDS = {"StudentEnrollment": 3, "TeacherEnrollment": 4, "TaEnrollment": 5}
_TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def letter(percent: float) -> str:
    return next((grade for floor, grade in _LETTERS if percent >= floor), "F")


def _ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def unique_login(first: str, last: str, used: set[str]) -> str:
    """``first.last@`` the domain, numbered on a clash, so login ids stay unique.

    ``used`` holds the local parts taken so far; the new one is added.
    """
    base = f"{_ascii_slug(first)}.{_ascii_slug(last)}"
    local, number = base, 1
    while local in used:
        number += 1
        local = f"{base}{number}"
    used.add(local)
    return f"{local}@{EMAIL_DOMAIN}"


def token(rng: random.Random, length: int) -> str:
    return "".join(rng.choices(_TOKEN_ALPHABET, k=length))
