defmodule Realtime.Store.DurabilityTest do
  @moduledoc """
  Nothing acknowledged is lost, tried on the application in its own OS
  process with real files and a real PostgreSQL server:

    * kill -9 in the middle of a write storm from many clients, five times
      at random moments, on SQLite and on PostgreSQL; after each restart
      every acknowledged message is there, in order, whole;
    * a PostgreSQL outage while the application runs;
    * a damaged or foreign database file at start;
    * a full disk (a small tmpfs).
  """
  use ExUnit.Case, async: false

  alias Realtime.JSON
  alias Realtime.Test.{AppNode, PostgresServer, TermGen}
  alias Realtime.Test.GatewayClient, as: Client

  @moduletag timeout: 600_000
  @token "MTAwMDAwMDAwMDAwMDAwMDAwMQ.RTdev0.demo-bot-dev-token-not-a-secret"
  @general 1_100_000_000_000_000_101
  @writers 16
  @rounds 5

  defp request(http, method, path, body \\ nil) do
    {:ok, conn} = :gun.open(~c"127.0.0.1", http, %{protocols: [:http], retry: 0})
    {:ok, :http} = :gun.await_up(conn, 5_000)
    result = request_on(conn, method, path, body)
    :gun.close(conn)
    result
  end

  defp request_on(conn, method, path, body) do
    headers = [{"authorization", "Bot " <> @token}, {"content-type", "application/json"}]
    ref = :gun.request(conn, method, "/api/v10" <> path, headers, body || "")

    with {:response, :nofin, status, _} <- :gun.await(conn, ref, 10_000),
         {:ok, raw} <- :gun.await_body(conn, ref, 10_000) do
      {status, elem(JSON.decode(raw), 1)}
    else
      {:response, :fin, status, _} -> {status, nil}
      {:error, reason} -> {:error, reason}
    end
  end

  # `@writers` clients post to #general as fast as they are answered, each
  # on its own keep-alive connection, until told to stop or cut off.
  # Returns the acknowledged {id, content} pairs.
  defp storm(http, ms) do
    parent = self()

    writers =
      for w <- 1..@writers do
        spawn_link(fn ->
          {:ok, conn} = :gun.open(~c"127.0.0.1", http, %{protocols: [:http], retry: 0})
          {:ok, :http} = :gun.await_up(conn, 5_000)
          send(parent, {:acked, self(), post_until_stopped(conn, w, 0, [])})
        end)
      end

    Process.sleep(ms)
    writers
  end

  defp post_until_stopped(conn, w, i, acked) do
    receive do
      :stop -> acked
    after
      0 ->
        content = "storm w#{w} n#{i} #{System.unique_integer([:positive])}"

        case request_on(conn, "POST", "/channels/#{@general}/messages", JSON.encode(%{"content" => content})) do
          {200, %{"id" => id}} -> post_until_stopped(conn, w, i + 1, [{id, content} | acked])
          {status, _} when is_integer(status) -> post_until_stopped(conn, w, i + 1, acked)
          {:error, _} -> acked
        end
    end
  end

  defp collect(writers) do
    for w <- writers, do: send(w, :stop)
    Enum.flat_map(writers, fn w -> receive(do: ({:acked, ^w, acked} -> acked), after: (30_000 -> flunk("a writer hung"))) end)
  end

  # Every message of #general, newest first, read back through REST pages.
  defp history(http, before \\ nil, acc \\ []) do
    q = if before, do: "?limit=100&before=#{before}", else: "?limit=100"
    {200, page} = request(http, "GET", "/channels/#{@general}/messages" <> q)

    case page do
      [] -> acc
      page -> history(http, List.last(page)["id"], acc ++ Enum.map(page, &{&1["id"], &1["content"]}))
    end
  end

  defp start!(env) do
    case AppNode.start(env) do
      {:ok, node} -> node
      {:exited, status, out} -> flunk("the node exited with #{status}:\n#{out}")
    end
  end

  defp kill_storms(env) do
    seed = TermGen.seed()
    {_, acked} =
      Enum.reduce(1..@rounds, {TermGen.new(seed), []}, fn round, {st, acked} ->
        {kill_after, st} = TermGen.int(st, 1_200)
        node = start!(env)
        writers = storm(node.http, 300 + kill_after)
        AppNode.kill(node)
        acked = acked ++ collect(writers)

        node = start!(env)
        stored = history(node.http)
        ids = Enum.map(stored, fn {id, _} -> String.to_integer(id) end)
        assert ids == Enum.sort(ids, :desc), "seed #{seed}, round #{round}: history out of order"
        stored = Map.new(stored)
        lost = for {id, content} <- acked, stored[id] != content, do: id
        assert lost == [], "seed #{seed}, round #{round}: #{length(lost)} acknowledged messages lost or changed, of #{length(acked)}"
        # Stored but never acknowledged is allowed (the answer died with the
        # node); made up is not.
        assert Enum.all?(stored, fn {_, content} -> String.starts_with?(content, "storm ") end)
        AppNode.kill(node)
        {st, acked}
      end)

    assert length(acked) > 100, "the storms acknowledged only #{length(acked)} messages"
  end

  @tag :tmp_dir
  test "SQLite: kill -9 mid-storm, five times, loses nothing acknowledged", %{tmp_dir: dir} do
    kill_storms([{"REALTIME_DATA_DIR", dir}])
  end

  test "PostgreSQL: kill -9 mid-storm, five times, loses nothing acknowledged" do
    pg = PostgresServer.start()

    try do
      kill_storms([{"REALTIME_STORE", pg.url}])
    after
      PostgresServer.stop(pg)
    end
  end

  test "PostgreSQL outage: writes fail with 503 and dispatch nothing, cached reads and the gateway go on, writes come back without a restart" do
    pg = PostgresServer.start()
    node = start!([{"REALTIME_STORE", pg.url}])

    try do
      client = Client.connect(node.http)
      ready = Client.identify(client, @token)
      for _ <- ready["d"]["guilds"], do: Client.await_dispatch(client, "GUILD_CREATE")
      {200, %{"id" => before}} = request(node.http, "POST", "/channels/#{@general}/messages", JSON.encode(%{"content" => "before"}))
      assert Client.await_dispatch(client, "MESSAGE_CREATE")["d"]["id"] == before
      PostgresServer.stop_server(pg)

      assert {503, %{"code" => 0, "message" => "503: Service Unavailable"}} =
               request(node.http, "POST", "/channels/#{@general}/messages", JSON.encode(%{"content" => "during"}))

      # No event for a write that did not happen; the session is still served.
      assert Client.silent?(client, 300)
      Client.send_frame(client, 1, 1)
      assert {:frame, %{"op" => 11}} = Client.recv(client)

      assert {200, %{"name" => "general"}} = request(node.http, "GET", "/channels/#{@general}")
      assert {200, %{"content" => "before"}} = request(node.http, "GET", "/channels/#{@general}/messages/#{before}")
      assert {200, [%{"id" => ^before} | _]} = request(node.http, "GET", "/channels/#{@general}/messages?limit=1")
      assert {200, %{"username" => "realtime-demo-bot"}} = request(node.http, "GET", "/users/@me")

      PostgresServer.start_server(pg)
      assert {200, %{"id" => later}} = request(node.http, "POST", "/channels/#{@general}/messages", JSON.encode(%{"content" => "after"}))
      assert {200, [%{"id" => ^later}, %{"id" => ^before}]} = request(node.http, "GET", "/channels/#{@general}/messages?limit=2")
      assert Client.await_dispatch(client, "MESSAGE_CREATE")["d"]["id"] == later
    after
      AppNode.kill(node)
      PostgresServer.stop(pg)
    end
  end

  @tag :tmp_dir
  test "a damaged or foreign database file stops the start with its name, and is left as it was", %{tmp_dir: dir} do
    file = Path.join(dir, "realtime.db")
    File.write!(file, :binary.copy("my notes, not a database\n", 400))
    assert {:exited, status, out} = AppNode.start([{"REALTIME_DATA_DIR", dir}])
    assert status != 0 and out =~ file and out =~ "not a database"
    assert File.read!(file) == :binary.copy("my notes, not a database\n", 400)

    {_, 0} = System.cmd("python3", ["-c", "import sqlite3; c = sqlite3.connect('#{file}.other'); c.execute('create table notes (t)'); c.commit()"])
    File.rename!(file <> ".other", file)
    assert {:exited, _, out} = AppNode.start([{"REALTIME_DATA_DIR", dir}])
    assert out =~ file and out =~ "another application"
  end

  test "a full disk fails writes cleanly and loses nothing stored" do
    dir = Path.join(System.tmp_dir!(), "realtime-full-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    {_, 0} = System.cmd("mount", ["-t", "tmpfs", "-o", "size=3m", "tmpfs", dir])

    try do
      node = start!([{"REALTIME_DATA_DIR", dir}])
      big = String.duplicate("x", 1_900)

      statuses =
        Enum.reduce_while(1..5_000, [], fn i, acc ->
          case request(node.http, "POST", "/channels/#{@general}/messages", JSON.encode(%{"content" => "full #{i} #{big}"})) do
            {200, %{"id" => id}} -> {:cont, [{:ok, id, i} | acc]}
            {503, body} -> if length(for({:full, _} <- acc, do: 1)) >= 3, do: {:halt, [{:full, body} | acc]}, else: {:cont, [{:full, body} | acc]}
          end
        end)

      acked = for {:ok, id, i} <- statuses, do: {id, i}
      assert length(acked) > 10 and Enum.any?(statuses, &match?({:full, %{"code" => 0}}, &1)), "the disk never filled"
      # The gateway is up and everything acknowledged is still there.
      assert {200, _} = request(node.http, "GET", "/users/@me")
      AppNode.kill(node)
      node = start!([{"REALTIME_DATA_DIR", dir}])
      stored = node.http |> history() |> Map.new()
      assert Enum.all?(acked, fn {id, i} -> stored[id] == "full #{i} #{big}" end)
      AppNode.kill(node)
    after
      System.cmd("umount", ["-l", dir])
      File.rm_rf!(dir)
    end
  end
end
