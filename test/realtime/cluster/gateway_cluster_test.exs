defmodule Realtime.Cluster.GatewayClusterTest do
  @moduledoc """
  Three nodes running the whole application on one PostgreSQL: guilds on
  their ring owners, a bot connected to one node receiving what REST on
  another posted to a guild on a third, and the loss of a guild's node
  (SIGKILL) with the guild back on a survivor and nothing acknowledged lost.
  """
  use ExUnit.Case, async: false
  import Bitwise

  alias Realtime.JSON
  alias Realtime.Test.{ClusterPeers, GatewayClient, PostgresServer}
  alias Realtime.Test.GatewayClient, as: Client

  @demo "MTAwMDAwMDAwMDAwMDAwMDAwMQ.RTdev0.demo-bot-dev-token-not-a-secret"
  @hq 1_100_000_000_000_000_001
  @side 1_100_000_000_004_194_305
  @messages 1 <<< 9
  @content 1 <<< 15

  setup_all do
    server = PostgresServer.start()
    db = "cluster_#{System.unique_integer([:positive])}"
    PostgresServer.psql!(server, "CREATE DATABASE #{db}")
    url = String.replace(server.url, "dbname=postgres", "dbname=#{db}")
    on_exit(fn -> PostgresServer.stop(server) end)
    {:ok, url: url}
  end

  # The whole application on a new peer `name`, one of the cluster `names`.
  defp start_node(name, names, url) do
    {_peer, node} = ClusterPeers.start!(name |> Atom.to_string() |> String.split("@") |> hd())
    port = ClusterPeers.free_port()
    env = [store: {Realtime.Store.Postgres, %{url: url}}, cluster_nodes: names, resume_window: 2_000]
    :ok = ClusterPeers.start_app!(node, env, port, ClusterPeers.free_port())
    {node, port}
  end

  defp owner_of(node, guild), do: :erpc.call(node, Realtime.Cluster.Ring, :owner, [guild])
  defp local_guild(node, guild), do: :erpc.call(node, Realtime.Guild.Placement, :lookup_local, [guild])

  defp post(port, channel, content),
    do: GatewayClient.rest(port, :post, "/api/v10/channels/#{channel}/messages", @demo, JSON.encode(%{"content" => content}))

  defp channel_of(port, guild) do
    {200, _, channels} = GatewayClient.rest(port, :get, "/api/v10/guilds/#{guild}/channels", @demo)
    channels |> Enum.find(&(&1["type"] == 0)) |> Map.fetch!("id")
  end

  test "guilds run on their owners; events cross nodes; a killed node's guilds come back on the survivors", %{url: url} do
    suffix = System.unique_integer([:positive])
    names = for i <- 1..3, do: :"gw#{i}_#{suffix}@127.0.0.1"

    ports = Map.new(names, &start_node(&1, names, url))
    all = Enum.sort(names)
    for n <- names, do: ClusterPeers.eventually(fn -> :erpc.call(n, Realtime.Cluster.Membership, :members, []) == all end, 15_000, "membership")

    # Exactly one process per guild, on its owner, and every node agrees.
    for guild <- [@hq, @side] do
      owner = owner_of(hd(names), guild)
      assert Enum.all?(names, &(owner_of(&1, guild) == owner))
      ClusterPeers.eventually(fn -> Enum.filter(names, &match?({:ok, _}, local_guild(&1, guild))) == [owner] end, 15_000, "guild #{guild} on #{owner} only")
    end

    # The bot connects to a node that does not own the guild, and REST goes
    # through the remaining node.
    owner = owner_of(hd(names), @hq)
    [bot_node | _] = names -- [owner]
    [rest_node | _] = (names -- [owner, bot_node]) ++ [owner]
    c = Client.connect(ports[bot_node])
    ready = Client.identify(c, @demo, %{"intents" => 1 ||| @messages ||| @content})
    assert ready["d"]["resume_gateway_url"] == "ws://127.0.0.1:#{ports[bot_node]}"
    for _ <- ready["d"]["guilds"], do: Client.await_dispatch(c, "GUILD_CREATE", 10_000)

    general = channel_of(ports[rest_node], @hq)
    {200, _, sent} = post(ports[rest_node], general, "across three nodes")
    created = Client.await_dispatch(c, "MESSAGE_CREATE", 10_000)
    assert created["d"]["id"] == sent["id"] and created["d"]["content"] == "across three nodes"

    # The connection drops; the client resumes on another node, which finds
    # the session where it lives and replays what was missed.
    Client.close(c, :drop)
    {200, _, away} = post(ports[rest_node], general, "while away")
    c = Client.connect(ports[rest_node])
    {:frame, %{"op" => 10}} = Client.recv(c)
    Client.send_frame(c, 6, %{"token" => @demo, "session_id" => ready["d"]["session_id"], "seq" => created["s"]})
    assert Client.await_dispatch(c, "MESSAGE_CREATE", 10_000)["d"]["id"] == away["id"]
    Client.await_dispatch(c, "RESUMED", 10_000)

    # A second session lives on the node that is about to die.
    doomed = Client.connect(ports[owner])
    doomed_ready = Client.identify(doomed, @demo, %{"intents" => 1})

    # The owner of the guild dies without a word.
    owner_name = Atom.to_string(owner)
    {:ok, {^owner_name, epoch}} = lease(bot_node, @hq)
    :ok = ClusterPeers.kill9(owner)
    # Its client reconnects elsewhere: the session died with its node, so
    # resuming is Invalid Session and the client identifies again.
    again = Client.connect(ports[bot_node])
    {:frame, %{"op" => 10}} = Client.recv(again)
    Client.send_frame(again, 6, %{"token" => @demo, "session_id" => doomed_ready["d"]["session_id"], "seq" => 1})
    assert {:frame, %{"op" => 9, "d" => false}} = Client.recv(again, 10_000)
    assert Client.await_dispatch(c, "GUILD_DELETE", 15_000)["d"] == %{"id" => to_string(@hq), "unavailable" => true}
    back = Client.await_dispatch(c, "GUILD_CREATE", 20_000)
    assert back["d"]["id"] == to_string(@hq)

    survivors = names -- [owner]
    new_owner = owner_of(bot_node, @hq)
    assert new_owner in survivors
    assert Enum.filter(survivors, &match?({:ok, _}, local_guild(&1, @hq))) == [new_owner]
    # The new owner fenced the dead one out before it loaded the guild.
    new_owner_name = Atom.to_string(new_owner)
    assert {:ok, {^new_owner_name, later}} = lease(bot_node, @hq)
    assert later > epoch

    # The acknowledged message survived, and the guild takes new ones.
    {200, _, history} = GatewayClient.rest(ports[bot_node], :get, "/api/v10/channels/#{general}/messages?limit=10", @demo)
    assert sent["id"] in Enum.map(history, & &1["id"])
    {200, _, _} = post(ports[bot_node], general, "after the loss")
    assert Client.await_dispatch(c, "MESSAGE_CREATE", 10_000)["d"]["content"] == "after the loss"
  end

  defp lease(node, guild), do: :erpc.call(node, Realtime.Store, :read, [{:lease, guild}])

  test "a node that joins takes its guilds over live: no GUILD_DELETE, every acknowledged message delivered once", %{url: url} do
    # Names for which the third node takes over the large guild.
    names =
      Stream.repeatedly(fn -> System.unique_integer([:positive]) end)
      |> Stream.map(fn suffix -> for(i <- 1..3, do: :"hand#{i}_#{suffix}@127.0.0.1") end)
      |> Enum.find(fn [a, b, c] ->
        Realtime.HashRing.find_node(Realtime.HashRing.new([a, b]), @hq) != c and
          Realtime.HashRing.find_node(Realtime.HashRing.new([a, b, c]), @hq) == c
      end)

    [{n1, port1}, {n2, _}] = Enum.map(Enum.take(names, 2), &start_node(&1, names, url))
    two = Enum.sort([n1, n2])
    for n <- two, do: ClusterPeers.eventually(fn -> :erpc.call(n, Realtime.Cluster.Membership, :members, []) == two end, 15_000, "two members")
    ClusterPeers.eventually(fn -> Enum.count(two, &match?({:ok, _}, local_guild(&1, @hq))) == 1 end, 15_000, "the guild on one of two")

    c = Client.connect(port1)
    ready = Client.identify(c, @demo, %{"intents" => 1 ||| @messages ||| @content})
    for _ <- ready["d"]["guilds"], do: Client.await_dispatch(c, "GUILD_CREATE", 10_000)
    general = channel_of(port1, @hq)

    # Messages go in without pause while the third node joins.
    me = self()

    poster =
      spawn_link(fn ->
        Stream.iterate(1, &(&1 + 1))
        |> Enum.each(fn i ->
          case post(port1, general, "m#{i}") do
            {200, _, m} -> send(me, {:acked, m["id"]})
            _ -> :ok
          end

          receive do
            :stop -> send(me, :stopped) && exit(:normal)
          after
            0 -> :ok
          end
        end)
      end)

    Process.sleep(500)
    [n3] = Enum.drop(names, 2)
    {^n3, _} = start_node(n3, names, url)
    ClusterPeers.eventually(fn -> match?({:ok, _}, local_guild(n3, @hq)) and local_guild(n1, @hq) == :error and local_guild(n2, @hq) == :error end, 20_000, "the guild moving to the new node")
    Process.sleep(1_000)
    send(poster, :stop)
    assert_receive :stopped, 10_000
    acked = collect_acked([])
    assert length(acked) > 10

    # The session saw every acknowledged message once, in order, and never
    # lost the guild.
    received = receive_creates(c, MapSet.new(acked), [])
    assert received == acked
    assert Client.silent?(c, 300)
  end

  defp collect_acked(acc) do
    receive do
      {:acked, id} -> collect_acked([id | acc])
    after
      0 -> Enum.reverse(acc)
    end
  end

  # MESSAGE_CREATE ids until every expected one arrived; fails on a
  # GUILD_DELETE or a duplicate.
  defp receive_creates(c, waiting, acc) do
    if MapSet.size(waiting) == 0 do
      Enum.reverse(acc)
    else
      case Client.recv(c, 10_000) do
        {:frame, %{"t" => "MESSAGE_CREATE", "d" => %{"id" => id}}} ->
          refute id in acc, "MESSAGE_CREATE #{id} arrived twice"
          receive_creates(c, MapSet.delete(waiting, id), [id | acc])

        {:frame, %{"t" => "GUILD_DELETE"} = f} ->
          flunk("the session lost the guild during the handoff: #{inspect(f)}")

        {:frame, _} ->
          receive_creates(c, waiting, acc)

        {:close, code} ->
          flunk("closed with #{inspect(code)}")
      end
    end
  end
end
