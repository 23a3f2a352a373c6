defmodule Realtime.Push.GuildPushTest do
  use Realtime.Test.GatewayCase, async: false

  alias Realtime.{Guild, JSON, Metrics}

  @ada 1_200_000_000_000_000_001
  @grace 1_200_000_000_000_000_002
  @member 1_300_000_000_000_000_001
  @demo_id 1_000_000_000_000_000_001
  @regular 1_100_000_000_000_000_013
  @cap 50

  # The application's push pipeline, restarted with the current app env.
  defp restart_push do
    :ok = Supervisor.terminate_child(Realtime.Supervisor, Realtime.Push)
    :ok = Supervisor.delete_child(Realtime.Supervisor, Realtime.Push)
    {:ok, _} = Supervisor.start_child(Realtime.Supervisor, Realtime.Push.child_spec([]))
  end

  setup do
    path = Path.join(System.tmp_dir!(), "realtime-pushes-#{System.unique_integer([:positive])}.jsonl")
    Application.put_env(:realtime, :push, sink: {Realtime.Push.FileSink, %{path: path}}, cap_per_message: @cap, senders: 1)
    restart_push()
    # Guilds build their push audience when they start with pushes on.
    restore_guild(@hq)

    on_exit(fn ->
      Application.delete_env(:realtime, :push)
      Application.delete_env(:realtime, :passive_members)
      {:ok, _} = Realtime.Push.Preferences.update(@demo_id, @hq, %{muted: false, channels: %{@general => false}})
      restart_push()
      restore_guild(@hq)
      File.rm(path)
    end)

    {:ok, path: path}
  end

  defp post(channel, content) do
    {:ok, msg} = Guild.create_message(guild_pid(@hq), channel, @ada, content)
    msg["id"]
  end

  # The users pushed about message `id`, once its pushes are in the file.
  # Pushes are written in order, so a later message's pushes being there
  # means an earlier one's are too.
  defp pushed(path, id, tries \\ 250) do
    lines = if File.exists?(path), do: path |> File.read!() |> String.split("\n", trim: true) |> Enum.map(&elem(JSON.decode(&1), 1)), else: []

    case for(%{"message_id" => ^id, "user_id" => u} <- lines, do: String.to_integer(u)) do
      [] when tries > 0 -> Process.sleep(20) && pushed(path, id, tries - 1)
      users -> Enum.sort(users)
    end
  end

  # Pushes about `id`, known to be none once a later push to Grace is written.
  defp none?(path, id) do
    sentinel = post(@general, "<@#{@grace}> sentinel")
    assert pushed(path, sentinel) == [@grace]
    pushed(path, id, 0) == []
  end

  test "the mentioned members who are offline and see the channel get a push, and nobody else", %{port: port, path: path} do
    c = Client.connect(port)
    ready = Client.identify(c, @demo)
    for _ <- ready["d"]["guilds"], do: Client.await_dispatch(c, "GUILD_CREATE")

    # The bot is connected and Ada is the author; Grace and the member are offline.
    id = post(@general, "<@#{@grace}> <@#{@demo_id}> <@#{@ada}> <@#{@member}> hello")
    assert pushed(path, id) == [@grace, @member]

    # A channel Grace may not see.
    overwrites = [%{"id" => to_string(@grace), "type" => 1, "allow" => "0", "deny" => "1024"}]
    body = JSON.encode(%{"name" => "no-grace", "type" => 0, "permission_overwrites" => overwrites})
    assert {201, _, %{"id" => hidden}} = Client.rest(port, :post, "/api/v10/guilds/#{@hq}/channels", @demo, body)
    id = post(String.to_integer(hidden), "<@#{@grace}> <@#{@member}> in secret")
    assert pushed(path, id) == [@member]

    # A role with more offline members than the cap: the cap is pushed, the rest counted.
    regulars = Enum.count(Enum.find(Realtime.Seed.configured().guilds, &(&1.id == @hq)).members, fn {_, m} -> @regular in m.roles end)
    assert regulars > @cap
    capped = Metrics.value(:push_capped)
    id = post(@general, "<@&#{@regular}> meeting")
    assert length(pushed(path, id)) == @cap
    assert Metrics.value(:push_capped) - capped == regulars - @cap

    Client.close(c)
  end

  test "a member with only passive sessions is offline for pushes", %{port: port, path: path} do
    Application.put_env(:realtime, :passive_members, 1_000)
    restore_guild(@hq)
    c = Client.connect(port)
    ready = Client.identify(c, @demo)
    for _ <- ready["d"]["guilds"], do: Client.await_dispatch(c, "GUILD_CREATE")

    id = post(@general, "<@#{@demo_id}> you are passive")
    assert pushed(path, id) == [@demo_id]
    Client.close(c)
  end

  test "muting the guild or a channel suppresses pushes, and is counted", %{port: port, path: path} do
    settings = fn body -> Client.rest(port, :patch, "/api/v10/users/@me/guilds/#{@hq}/settings", @demo, JSON.encode(body)) end

    id = post(@general, "<@#{@demo_id}> one")
    assert pushed(path, id) == [@demo_id]

    muted = Metrics.value(:push_dropped, "muted")
    assert {200, _, %{"muted" => true, "channel_overrides" => []}} = settings.(%{"muted" => true})
    assert none?(path, post(@general, "<@#{@demo_id}> two"))
    assert Metrics.value(:push_dropped, "muted") - muted == 1

    assert {200, _, %{"muted" => false, "channel_overrides" => [%{"channel_id" => general, "muted" => true}]}} =
             settings.(%{"muted" => false, "channel_overrides" => [%{"channel_id" => to_string(@general), "muted" => true}]})
    assert general == to_string(@general)
    assert none?(path, post(@general, "<@#{@demo_id}> three"))
    id = post(@announcements, "<@#{@demo_id}> four")
    assert pushed(path, id) == [@demo_id]

    # Bad bodies are the documented form error; other guilds are unknown.
    assert {400, _, %{"code" => 50_035, "errors" => %{"muted" => _}}} = settings.(%{"muted" => "yes"})
    assert {400, _, %{"code" => 50_035}} = settings.(%{"channel_overrides" => [%{"channel_id" => "x", "muted" => true}]})
    assert {404, _, %{"code" => 10_004}} = Client.rest(port, :patch, "/api/v10/users/@me/guilds/42/settings", @demo, "{}")
  end
end
