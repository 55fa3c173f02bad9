"""Write realistic import files for ``bench/imports.sh``: members and visit lines.

    python bench/import_files.py DIR MEMBERS LINES

``DIR/members.csv``: MEMBERS clients as a Russian Excel saves them — cp1251,
``;``-separated, Russian headers, phones in mixed formats ("8 916 …",
"+7 (916) …", "916…"), some emails and birthdays, a consent column.
``DIR/visits.csv``: LINES visit lines of those clients over three years, a
booking id per visit (a visit of one or two lines), services and masters by
name, amounts with a decimal comma. Deterministic (seeded), streamed to disk.
"""

from __future__ import annotations

import csv
import random
import sys
from datetime import datetime, timedelta
from pathlib import Path

FIRST = ["Анна", "Мария", "Елена", "Ольга", "Наталья", "Ирина", "Дмитрий", "Алексей"]
LAST = ["Иванова", "Смирнова", "Кузнецова", "Попова", "Соколова", "Лебедева"]
SERVICES = [
    ("Классический массаж 60 мин", 3500),
    ("Массаж спины 30 мин", 2000),
    ("Тайский массаж 90 мин", 5200),
    ("Стоун-терапия", 4800),
    ("Лимфодренаж", 4000),
    ("Ароматерапия", 900),
]
MASTERS = [f"Мастер {n}" for n in range(1, 13)]
LOCATIONS = ["center", "patriki", "mobile"]


def phone_text(index: int, rnd: random.Random) -> str:
    digits = f"916{index:07d}"
    style = rnd.random()
    if style < 0.4:
        return f"8 {digits[:3]} {digits[3:6]}-{digits[6:8]}-{digits[8:]}"
    if style < 0.8:
        return f"+7 ({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return digits


def members_write(path: Path, count: int) -> None:
    rnd = random.Random(1)
    with open(path, "w", encoding="cp1251", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(
            ["Телефон", "Имя", "Фамилия", "Email", "Дата рождения",
             "Комментарий", "Согласие на рассылку"]
        )  # fmt: skip
        for i in range(count):
            email = f"client{i}@example.ru" if rnd.random() < 0.5 else ""
            birthday = (
                f"{rnd.randint(1, 28):02d}.{rnd.randint(1, 12):02d}."
                f"{rnd.randint(1960, 2005)}"
                if rnd.random() < 0.6
                else ""
            )
            writer.writerow(
                [phone_text(i, rnd), rnd.choice(FIRST), rnd.choice(LAST), email,
                 birthday, "", "да" if rnd.random() < 0.4 else "нет"]
            )  # fmt: skip


def visits_write(path: Path, members: int, lines: int) -> None:
    rnd = random.Random(2)
    start = datetime(2023, 12, 1, 10, 0)
    span_minutes = 3 * 365 * 24 * 60
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(
            ["ID записи", "Дата визита", "Телефон", "Услуга", "Мастер",
             "Количество", "Сумма", "Филиал"]
        )  # fmt: skip
        written, booking = 0, 0
        while written < lines:
            booking += 1
            client = rnd.randrange(members)
            at = start + timedelta(minutes=rnd.randrange(span_minutes) // 15 * 15)
            location = LOCATIONS[client % 3]
            master = MASTERS[(client + booking) % len(MASTERS)]
            phone = phone_text(client, random.Random(client))
            for _ in range(1 if rnd.random() < 0.7 else 2):
                service, price = rnd.choice(SERVICES)
                writer.writerow(
                    [booking, at.strftime("%d.%m.%Y %H:%M"), phone, service, master,
                     1, f"{price},00", location]
                )  # fmt: skip
                written += 1
                if written >= lines:
                    break


def main() -> None:
    out, members, lines = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    members_write(out / "members.csv", members)
    if lines:
        visits_write(out / "visits.csv", members, lines)


if __name__ == "__main__":
    main()
