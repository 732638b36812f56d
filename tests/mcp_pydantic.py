"""Drive `adsched mcp` from a pydantic-ai agent, as the users' agents do,
with pydantic-ai's TestModel in place of an LLM (it calls the tools it is
told to with arguments made from their JSON Schemas, then answers with what
they returned).

Usage: mcp_pydantic.py ADSCHED_BIN SERVER_URL STATE TEMPLATES SCHEDULES

Needs pydantic-ai-slim[mcp] (tests/requirements.txt; ./scripts/test.sh
installs it into .venv). Prints one JSON object on
stdout; exits non-zero (with a traceback) when a check fails.
"""
import asyncio
import json
import sys

from fastmcp.client.transports import StdioTransport
from pydantic_ai import Agent
from pydantic_ai.mcp import MCPToolset
from pydantic_ai.messages import ToolReturnPart
from pydantic_ai.models.test import TestModel

TOOLS = {
    "cancel_run",
    "export_run",
    "list_audit",
    "pause_schedule",
    "resume_schedule",
    "review_run",
    "get_run",
    "get_schedule",
    "list_runs",
    "list_schedules",
    "next_fire_times",
    "send_email",
    "send_slack",
    "trigger_run",
    "validate_schedule",
}


async def main() -> None:
    binary, server, state, templates, schedules = sys.argv[1:6]
    transport = StdioTransport(
        command=binary,
        args=[
            "mcp",
            "--server", server,
            "--state", state,
            "--templates", templates,
            "--schedules", schedules,
        ],
    )
    adsched = MCPToolset(transport, id="adsched")

    # The agent: TestModel calls the three tools whose required arguments it
    # can make up (list_schedules and list_runs need none; validate_schedule
    # gets a YAML text it invents and answers with findings, not an error).
    model = TestModel(call_tools=["list_schedules", "list_runs", "validate_schedule"])
    agent = Agent(model, toolsets=[adsched])
    async with agent:
        result = await agent.run("Which ad schedules are there, and is my draft valid?")
        seen = {t.name for t in model.last_model_request_parameters.function_tools}
        assert seen == TOOLS, seen
        for tool in model.last_model_request_parameters.function_tools:
            assert tool.description and len(tool.description) > 80, tool.name
            assert tool.parameters_json_schema.get("type") == "object", tool.name

        returns = {
            part.tool_name: part.content
            for message in result.all_messages()
            for part in message.parts
            if isinstance(part, ToolReturnPart)
        }
        assert set(returns) == {"list_schedules", "list_runs", "validate_schedule"}, returns
        schedules_seen = sorted(s["id"] for s in returns["list_schedules"]["schedules"])
        assert schedules_seen == ["mail", "quiet"], returns["list_schedules"]
        assert returns["validate_schedule"]["valid"] is False, returns["validate_schedule"]
        assert returns["validate_schedule"]["errors"], returns["validate_schedule"]

        # The same toolset, called directly as application code would.
        draft = open(f"{schedules}/s.yaml").read().replace("id: mail", "id: from-agent")
        checked = await adsched.direct_call_tool("validate_schedule", {"yaml": draft})
        assert checked["valid"] is True, checked
        times = await adsched.direct_call_tool(
            "next_fire_times",
            {"schedule_id": "mail", "count": 2, "after": "2026-07-01T00:00:00Z"},
        )
        assert times["times"] == ["2026-07-01T09:00:00-07:00", "2026-07-02T09:00:00-07:00"], times

        # A tool error reaches the agent as a retry prompt with the server's message.
        try:
            await adsched.direct_call_tool("get_schedule", {"schedule_id": "nope"})
        except Exception as e:  # ModelRetry
            error = str(e)
        else:
            raise AssertionError("get_schedule of an unknown id should fail")
        assert "no schedule with id `nope`" in error, error

        # An operator's action, as an agent takes it: pause with a reason.
        paused = await adsched.direct_call_tool(
            "pause_schedule", {"schedule_id": "mail", "reason": "agent pause"}
        )
        assert paused["schedule"]["status"] == "paused", paused
        audit = await adsched.direct_call_tool("list_audit", {"schedule_id": "mail"})
        assert audit["entries"][0]["action"] == "pause", audit

    print(json.dumps({
        "tools": sorted(seen),
        "schedules": schedules_seen,
        "validated": checked["valid"],
        "times": times["times"],
        "error": error,
        "output": result.output,
    }))


if __name__ == "__main__":
    asyncio.run(main())
