#!/usr/bin/env python3
"""Write the school example's data files (examples/school/pipeline.yml) into OUT_DIR.

    python examples/school/make_data.py /tmp/school-data

Small, deterministic files in the shapes a school's systems send: a roster
CSV (semicolons, a UTF-8 BOM, a quoted name with a semicolon), two days of
attendance CSV, an assessments JSON export ({"data": [...]}) and a monthly
.xlsx workbook (a title row, a merged header cell, dates, a notes sheet).
The workbook needs openpyxl (the project's dev extra).
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path

STUDENTS = [("S001", "Ana", "Lopez", 9), ("S002", "Ben", "Okafor", 9),
            ("S003", "Chloé", "Martin; Jr.", 10), ("S004", "Dev", "Patel", 10),
            ("S005", "Eva", "Nowak", 11)]


def write_roster(out: Path) -> None:
    lines = ["student_id;first_name;last_name;grade_level;email"]
    for sid, first, last, grade in STUDENTS:
        email = "n/a" if sid == "S004" else f"{first.lower()}@school.example"
        last = f'"{last}"' if ";" in last else last
        lines.append(f"{sid};{first};{last};{grade};{email}")
    path = out / "roster" / "students-2026-03-01.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xef\xbb\xbf" + ("\r\n".join(lines) + "\r\n").encode())


def write_attendance(out: Path) -> None:
    folder = out / "attendance"
    folder.mkdir(parents=True, exist_ok=True)
    for day in (2, 3):
        lines = ["mark_id,student_id,date,period,status,recorded_at"]
        for n, (sid, *_rest) in enumerate(STUDENTS, start=1):
            status = "absent" if (n + day) % 4 == 0 else "present"
            lines.append(f"A{day:02d}{n:02d},{sid},2026-03-{day:02d},1,{status},"
                         f"2026-03-{day:02d}T08:{n:02d}:00Z")
        (folder / f"attendance-2026-03-{day:02d}.csv").write_text("\n".join(lines) + "\n")


def write_assessments(out: Path) -> None:
    results = [{"result_id": f"R{n:03d}", "student_id": sid, "assessment": "Algebra check",
                "score": 60 + n * 7, "max_score": 100, "taken_at": f"2026-03-0{n}T10:00:00Z",
                "items": [{"q": 1, "correct": n % 2 == 0}]}
               for n, (sid, *_rest) in enumerate(STUDENTS, start=1)]
    doc = {"meta": {"exported_at": "2026-03-06T00:00:00Z", "count": len(results)},
           "data": results}
    path = out / "assessments" / "assessments-2026-03.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False))


def write_monthly(out: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    marks = book.active
    marks.title = "Marks"
    marks.append(["Monthly marks, March 2026"])  # a title row above the header
    marks.append([])
    marks.append(["row_id", "student_id", "Term mark", None, "entered_on", "entered_at"])
    marks.merge_cells("C3:D3")  # "Term mark" over two columns: mark and grade letter
    for n, (sid, *_rest) in enumerate(STUDENTS, start=1):
        marks.append([n, sid, 50 + n * 9, "ABCDE"[5 - n], date(2026, 3, 28),
                      datetime(2026, 3, 28, 15, n)])
    book.create_sheet("Notes").append(["Entered by the school office."])
    path = out / "monthly" / "marks-2026-03.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    out = Path(argv[0])
    for write in (write_roster, write_attendance, write_assessments, write_monthly):
        write(out)
    print(f"wrote {out}: roster, attendance, assessments, monthly")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
