"""A follow-up's users: new, changed and unchanged ones, and the late-arriving ones."""

from __future__ import annotations

from ..calendar import iso_z
from ..records import new_user
from .state import FollowUpBatch, share


def add_users(batch: FollowUpBatch) -> None:
    out, users = batch.out["users"], batch.data["users"]
    for record in batch.delivered_users:
        out.add("new", record)
    used_logins = {
        str(user.get("login_id", "")).split("@")[0]
        for user in [*users.values(), *batch.delivered_users]
    }

    def take_user() -> dict:
        uid = batch.ids.take("users")
        return new_user(batch.rng, uid, used_logins, batch.t1, f"SIS{uid:06d}")

    n_students = len(batch.users_of("StudentEnrollment"))
    batch.new_students = [take_user() for _ in range(share(n_students, 0.02, 2, 50))]
    for record in batch.new_students:
        out.add("new", record)
    batch.pending_users = [take_user()]
    batch.late["user_ids"] = [user["id"] for user in batch.pending_users]
    changed, unchanged = batch.pick(
        users, share(len(users), 0.03, 3, 100), share(len(users), 0.02, 2, 50)
    )
    for uid in changed:
        out.add("changed", users[uid] | {"last_login": iso_z(batch.moment())})
    batch.resend("users", unchanged)
