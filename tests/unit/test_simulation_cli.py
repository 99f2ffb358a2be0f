"""`inboxtrail simulate --output`: JSON lines in the `inboxtrail produce` format, reproducible."""
import json

from inboxtrail.cli import EXIT_OK, EXIT_USAGE, main
from schemas.jsonform import event_from_json


def simulate_to_stdout(capsys, *args: str) -> list[dict]:
    code = main(["simulate", "--output", "-", "--start", "2026-12-01T00:00:00Z", *args])
    assert code == EXIT_OK
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_output_is_valid_json_lines_and_the_same_for_the_same_seed(capsys):
    first = simulate_to_stdout(capsys, "--events", "300", "--seed", "5", "--tenants", "contoso,fabrikam")
    again = simulate_to_stdout(capsys, "--events", "300", "--seed", "5", "--tenants", "contoso,fabrikam")
    other = simulate_to_stdout(capsys, "--events", "300", "--seed", "6", "--tenants", "contoso,fabrikam")
    assert len(first) == 300
    assert first == again
    assert first != other
    events = [event_from_json(obj, line=number) for number, obj in enumerate(first, start=1)]
    assert {e.tenant_id for e in events} == {"contoso", "fabrikam"}


def test_bad_arguments_are_usage_errors_that_say_what_to_do(capsys):
    assert main(["simulate", "--tenants", "Not A Tenant", "--events", "1", "--output", "-"]) == EXIT_USAGE
    assert "--tenants" in capsys.readouterr().err
    assert main(["simulate", "--output", "-"]) == EXIT_USAGE
    assert "needs --events" in capsys.readouterr().err
    assert main(["simulate", "--events", "1", "--output", "-", "--start", "yesterday"]) == EXIT_USAGE
    assert "RFC 3339" in capsys.readouterr().err
    assert main(["simulate", "--events", "1", "--rate", "-1"]) == EXIT_USAGE
