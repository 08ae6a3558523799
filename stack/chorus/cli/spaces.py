"""`chorusctl spaces ...`: list, show, create and end spaces; raise hands, promote speakers."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from chorus.cli.common import EXIT_OK, Commands, Parser, SharedOptions, emit, space_id, table, with_gateway
from chorus.client import GatewayClient
from chorus.text import printable


def add_spaces(commands: Commands, shared: SharedOptions) -> None:
    """Add `chorusctl spaces` and its actions.

    Args:
        commands: The subcommands of `chorusctl`.
        shared: The shared parent parsers.
    """
    spaces = commands.add_parser("spaces", help="list, show, create and end spaces; raise hands, promote speakers",
                                 description="Work with spaces: live audio rooms.")
    space_commands = spaces.add_subparsers(dest="spaces_command", metavar="ACTION", parser_class=Parser)
    space_commands.required = True
    listing = space_commands.add_parser("list", parents=[shared.client], help="list live spaces",
                                        description="List live spaces with their presence counts.")
    listing.add_argument("--all", action="store_true", help="include ended spaces")
    listing.set_defaults(handler=spaces_list_command)
    show = space_commands.add_parser("show", parents=[shared.client], help="show one space",
                                     description="Show a space: host, speakers, raised hands, node, presence.")
    show.add_argument("space", type=space_id, metavar="ID", help="the space id, e.g. sp-1a2b3c4d")
    show.set_defaults(handler=spaces_show_command)
    create = space_commands.add_parser("create", parents=[shared.client], help="create a space",
                                       description="Create a live space; prints its id.",
                                       epilog="Example: chorusctl spaces create --title 'Town hall' --host alice")
    create.add_argument("--title", required=True, help="the space's title")
    create.add_argument("--host", default="host", help="the host's user name (default: host)")
    create.set_defaults(handler=spaces_create_command)
    end = space_commands.add_parser("end", parents=[shared.client], help="end a space",
                                    description="End a space; its listeners are told it ended.")
    end.add_argument("space", type=space_id, metavar="ID", help="the space id")
    end.add_argument("--by", default=None, help="the host's user name (default: the space's host)")
    end.set_defaults(handler=spaces_end_command)

    hand = space_commands.add_parser("hand", parents=[shared.client], help="raise a hand: ask the host to let you speak",
                                     description="Raise USER's hand in a space; the host sees raised hands in order.")
    hand.add_argument("space", type=space_id, metavar="ID", help="the space id")
    hand.add_argument("--user", required=True, help="who raises a hand")
    hand.set_defaults(handler=spaces_hand_command)
    promote = space_commands.add_parser(
        "promote", parents=[shared.client], help="make a user a speaker (the host's call)",
        description="Promote USER to speaker; they can then `chorusctl speak FILE --space ID --user USER`.",
    )
    promote.add_argument("space", type=space_id, metavar="ID", help="the space id")
    promote.add_argument("user", metavar="USER", help="who becomes a speaker")
    promote.add_argument("--by", default=None, help="the host's user name (default: the space's host)")
    promote.set_defaults(handler=spaces_promote_command)


def spaces_list_command(args: argparse.Namespace) -> int:
    """Run `chorusctl spaces list`.

    Args:
        args: The parsed arguments.

    Returns:
        The exit code.
    """
    spaces = with_gateway(args, lambda gateway: gateway.spaces(include_ended=args.all))
    rows = [["SPACE", "STATE", "LISTENERS", "SPEAKERS", "HANDS", "NODE", "HOST", "TITLE"]] + [space_line(s) for s in spaces]
    emit(args, spaces, table(rows) if spaces else "no spaces - create one with `chorusctl spaces create --title T`")
    return EXIT_OK


def spaces_show_command(args: argparse.Namespace) -> int:
    """Run `chorusctl spaces show`.

    Args:
        args: The parsed arguments.

    Returns:
        The exit code.
    """
    space = with_gateway(args, lambda gateway: gateway.space(args.space))
    presence = space["presence"]
    text = "\n".join([
        f"space     {space['id']}  ({'live' if space['live'] else 'ended'})",
        f"title     {printable(space['title'])}",
        f"host      {printable(space['host'])}",
        f"speakers  {printable(', '.join(space['speakers'])) or '-'}",
        f"hands     {printable(', '.join(space['hands'])) or '-'}",
        f"node      {space['node'] or '-'}",
        f"presence  {presence['listeners']} listeners, {presence['speakers']} speakers (tick {presence['tick']})",
    ])
    emit(args, space, text)
    return EXIT_OK


def spaces_create_command(args: argparse.Namespace) -> int:
    """Run `chorusctl spaces create`.

    Args:
        args: The parsed arguments.

    Returns:
        The exit code.
    """
    space = with_gateway(args, lambda gateway: gateway.create_space(args.title, args.host))
    emit(args, space, space["id"])
    if not args.json:  # the id alone on stdout, so `SPACE=$(chorusctl spaces create ...)` works
        print(f"created {printable(repr(space['title']))}, host {printable(space['host'])}; "
              f"speak with: chorusctl speak FILE.wav --space {space['id']}", file=sys.stderr)
    return EXIT_OK


def spaces_end_command(args: argparse.Namespace) -> int:
    """Run `chorusctl spaces end`.

    Args:
        args: The parsed arguments.

    Returns:
        The exit code.
    """

    async def end(gateway: GatewayClient) -> dict[str, Any]:
        by = args.by or (await gateway.space(args.space))["host"]
        return await gateway.end_space(args.space, by)

    space = with_gateway(args, end)
    emit(args, space, f"ended {space['id']}")
    return EXIT_OK


def spaces_hand_command(args: argparse.Namespace) -> int:
    """Run `chorusctl spaces hand`.

    Args:
        args: The parsed arguments.

    Returns:
        The exit code.
    """
    space = with_gateway(args, lambda gateway: gateway.raise_hand(args.space, args.user))
    emit(args, space, f"{args.user} raised a hand in {space['id']} (hands: {', '.join(space['hands']) or '-'})")
    return EXIT_OK


def spaces_promote_command(args: argparse.Namespace) -> int:
    """Run `chorusctl spaces promote`.

    Args:
        args: The parsed arguments.

    Returns:
        The exit code.
    """

    async def promote(gateway: GatewayClient) -> dict[str, Any]:
        by = args.by or (await gateway.space(args.space))["host"]
        return await gateway.promote(args.space, args.user, by)

    space = with_gateway(args, promote)
    emit(args, space, f"{args.user} is a speaker in {space['id']} (speakers: {', '.join(space['speakers'])})")
    return EXIT_OK


def space_line(space: dict[str, Any]) -> list[str]:
    """One space as a table row (what users wrote, escaped)."""
    presence = space["presence"]
    return [printable(str(space["id"])), "live" if space["live"] else "ended", str(presence["listeners"]),
            str(presence["speakers"]), str(presence["hands"]), printable(space["node"] or "-"),
            printable(str(space["host"])), printable(str(space["title"]))]
