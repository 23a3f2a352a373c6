defmodule Realtime.Gateway.DiscordPyTest do
  use Realtime.Test.GatewayCase, async: false

  @python Path.expand("../../../.venv/bin/python", __DIR__)
  @bot Path.expand("../../support/discord_py_bot.py", __DIR__)
  @rest_bot Path.expand("../../support/discord_py_rest.py", __DIR__)
  @ada 1_200_000_000_000_000_001

  defp run(script, args) do
    {out, status} = System.cmd(@python, [script | Enum.map(args, &to_string/1)], stderr_to_stdout: true)
    assert status == 0, out
    {out |> String.split("\n", trim: true) |> List.last() |> Realtime.JSON.decode() |> elem(1), out}
  end

  for mode <- ["zlib-stream", "zstd-stream"] do
    @tag timeout: 120_000
    test "an unmodified discord.py bot logs in, sees the seeded guilds and channels, and gets its own message (#{mode})", %{port: port} do
      {seen, _} = run(@bot, [unquote(mode), port, @demo, @general])
      assert seen["compression"] == unquote(mode)
      assert seen["user"] == "realtime-demo-bot"
      assert seen["guilds"] == ["Realtime HQ", "Side Project"]
      assert Enum.sort(["general", "staff", "announcements", "Lounge", "chat"]) -- seen["channels"] == []
      assert seen["member_counts"] == [13, 1204]
      assert seen["received_id"] == seen["sent_id"]
    end
  end

  @tag timeout: 120_000
  test "discord.py pages history, fetches, reacts and fetches guild objects, waiting out a rate-limited bucket", %{port: port} do
    saved = Application.get_env(:realtime, :rest_rate_limits)
    on_exit(fn -> Application.put_env(:realtime, :rest_rate_limits, saved) end)
    :ets.delete_all_objects(Realtime.WindowCounter)
    # Two messages per 500 ms per channel: six sends take at least three windows.
    send_limit = {2, 500}
    reactions = {:reactions, 1, 250}

    Application.put_env(:realtime, :rest_rate_limits, %{
      global: {50, 1_000},
      default: {1_000, 1_000},
      routes: %{
        {"POST", "/channels/{channel_id}/messages"} => send_limit,
        {"PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me"} => reactions,
        {"DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me"} => reactions
      }
    })

    {seen, out} = run(@rest_bot, [port, @demo, @hq, @general, @ada, 6])
    assert length(seen["sent"]) == 6, out
    [_s0, s1, s2, s3, s4, _s5] = sent = seen["sent"]
    # It waited for the bucket instead of failing: 6 sends at 2 per 500 ms
    # cannot finish before the third window opens.
    assert seen["send_seconds"] >= 1.0
    refute out =~ "Traceback"

    assert seen["latest"] == Enum.reverse(sent)
    # discord.py gives `after` pages oldest first, the others newest first.
    assert seen["after_first"] == [s1, s2]
    assert seen["before_last"] == [s4, s3]
    assert seen["around"] == [s3, s2, s1]
    assert seen["fetched"] == "rest 1"
    assert seen["reaction_add_event"] == ["add", "👍", String.to_integer(s1)]
    assert seen["reactions"] == [["👍", 1, true]]
    assert seen["reaction_remove_event"] == ["remove", "👍", String.to_integer(s1)]
    assert seen["guild"] == ["Realtime HQ", 1204]
    assert seen["channels"] == Enum.sort(["Text Channels", "general", "announcements", "staff", "Lounge"])
    assert seen["roles"] == Enum.sort(["@everyone", "Admin", "Moderator", "Regular", "Bots"])
    assert seen["member"] == "ada"
    assert seen["members"] == 1204
  end
end
