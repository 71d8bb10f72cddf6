"""Plans for linking many NetBox users to Authentik identities at once: every row checked before any write.

`netbox authentik_link` reads the rows and prints these plans; nothing here writes to the database.
"""

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from social_django.models import UserSocialAuth

from . import linking


@dataclass
class Row:
    """One line of a CSV file (or of the command line), with what is wrong with it."""

    line: int
    values: dict
    problems: list = field(default_factory=list)

    def get(self, name):
        return (self.values.get(name) or '').strip()


@dataclass(frozen=True)
class ProposedLink:
    """What --match decided for one identity: the user to link, or why none (`reason`)."""

    row: Row
    user: object = None
    reason: str = ''


def plan_links(rows, default_provider, allow_second_identity=False):
    """Check every row of --user/--csv; return (new links, links that already exist), problems on the rows."""
    users = _users_by_username({row.get('username') for row in rows})
    line_of_user, line_of_identity = {}, {}
    new_links, unchanged = [], []
    for row in rows:
        username, uid, provider = row.get('username'), row.get('uid'), row.get('provider') or default_provider
        user = users.get(username)
        if not username:
            row.problems.append('username is empty')
        elif user is None:
            row.problems.append(f"no NetBox user '{username}'")
        elif username in line_of_user:
            row.problems.append(f"NetBox user '{username}' is also on line {line_of_user[username]}")
        line_of_user.setdefault(username, row.line)
        row.problems.extend(uid_problems(uid, provider))
        if (provider, uid) in line_of_identity:
            row.problems.append(f'{provider} uid {uid} is also on line {line_of_identity[provider, uid]}')
        line_of_identity.setdefault((provider, uid), row.line)
        if row.problems:
            continue
        existing = linking.existing_link(provider, uid)
        if existing is None:
            problems = linking.link_problems(
                linking.SERVER_OPERATOR, user, provider, uid, allow_second_identity=allow_second_identity
            )
            if problems.get('user'):
                row.problems.append(problems['user'].rstrip('.') + '; --allow-second-identity links it anyway')
                continue
            new_links.append(UserSocialAuth(user=user, provider=provider, uid=uid, **linking.link_key(provider)))
        elif existing.user_id == user.pk:
            unchanged.append(existing)
        else:
            row.problems.append(f"{provider} uid {uid} is already linked to NetBox user '{existing.user}'")
    return new_links, unchanged


def check_identity_rows(rows, provider):
    """Mark the --identities rows whose uid is missing, too long or repeated."""
    first_line_of = {}
    for row in rows:
        uid = row.get('uid')
        row.problems.extend(uid_problems(uid, provider))
        if uid in first_line_of:
            row.problems.append(f'uid {uid} is also on line {first_line_of[uid]}')
        first_line_of.setdefault(uid, row.line)


def plan_matches(rows, mode, provider):
    """One ProposedLink per identity, by line: a user where exactly one unlinked NetBox user matches."""
    plan = {}
    lines_by_user = {}
    for row in rows:
        uid = row.get('uid')
        existing = linking.existing_link(provider, uid)
        if existing is not None:
            plan[row.line] = ProposedLink(row, reason=f"already linked to NetBox user '{existing.user}'")
            continue
        found = linking.match_existing_user(
            mode, provider, username=row.get('username'), email=row.get('email'), email_verified=True
        )
        if found.user is None:
            plan[row.line] = ProposedLink(row, reason=found.refusal or f'no NetBox user with this {mode}')
            continue
        plan[row.line] = ProposedLink(row, user=found.user)
        lines_by_user.setdefault(found.user.pk, []).append(row.line)
    for lines in lines_by_user.values():
        if len(lines) > 1:
            for line in lines:
                proposal = plan[line]
                others = ', '.join(str(other) for other in lines if other != line)
                plan[line] = ProposedLink(
                    proposal.row, reason=f"NetBox user '{proposal.user}' also matches line(s) {others}"
                )
    return [plan[line] for line in sorted(plan)]


def _users_by_username(usernames):
    return {user.username: user for user in get_user_model().objects.filter(username__in=usernames)}


def uid_problems(uid, provider):
    """What is wrong with a uid and provider pair before it reaches the database, as short phrases."""
    problems = []
    if not uid:
        problems.append('uid is empty')
    elif len(uid) > linking.uid_max_length():
        problems.append(f'uid is longer than {linking.uid_max_length()} characters')
    if not provider:
        problems.append('provider is empty')
    elif len(provider) > linking.provider_max_length():
        problems.append(f'provider is longer than {linking.provider_max_length()} characters')
    return problems
