defmodule Realtime.Gateway.DiscordPyTest do
  use Realtime.Test.GatewayCase, async: false

  @python Path.expand("../../../.venv/bin/python", __DIR__)
  @bot Path.expand("../../support/discord_py_bot.py", __DIR__)

  for mode <- ["zlib-stream", "zstd-stream"] do
    @tag timeout: 120_000
    test "an unmodified discord.py bot logs in, sees the seeded guilds and channels, and gets its own message (#{mode})", %{port: port} do
      {out, status} = System.cmd(@python, [@bot, unquote(mode), to_string(port), @demo, to_string(@general)], stderr_to_stdout: true)
      assert status == 0, out
      seen = out |> String.split("\n", trim: true) |> List.last() |> Realtime.JSON.decode() |> elem(1)
      assert seen["compression"] == unquote(mode)
      assert seen["user"] == "realtime-demo-bot"
      assert seen["guilds"] == ["Realtime HQ", "Side Project"]
      assert Enum.sort(["general", "staff", "announcements", "Lounge", "chat"]) -- seen["channels"] == []
      assert seen["member_counts"] == [13, 1204]
      assert seen["received_id"] == seen["sent_id"]
    end
  end
end
