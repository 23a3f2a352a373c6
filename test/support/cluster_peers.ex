defmodule Realtime.Test.ClusterPeers do
  @moduledoc """
  BEAM nodes for cluster tests: OTP's `:peer` nodes on loopback with this
  build's code path, so that they load our modules and the NIF. The test VM
  becomes distributed first (starting `epmd` if needed). Peers are linked to
  the calling test process and stop with it.
  """

  import ExUnit.Assertions

  @doc "Makes this VM a distributed node, starting epmd if it is not running."
  @spec distribute!() :: node
  def distribute! do
    unless Node.alive?() do
      {_, 0} = System.cmd("epmd", ["-daemon"])
      # Hidden, like a remote shell: peers never count the runner as one of
      # their own, and global's partition checks leave it out.
      name = :"realtime_test_#{System.unique_integer([:positive])}@127.0.0.1"
      {:ok, _} = :net_kernel.start(name, %{name_domain: :longnames, hidden: true})
    end

    node()
  end

  @doc "Starts peer `name` with our code path and logging of errors only (global's partition warnings are expected when a node leaves); returns `{peer, node}`."
  @spec start!(String.t()) :: {pid, node}
  def start!(name) do
    distribute!()
    {:ok, peer, node} = :peer.start_link(%{name: String.to_charlist(name), host: ~c"127.0.0.1", longnames: true, args: [~c"-setcookie", Atom.to_charlist(Node.get_cookie())]})
    :ok = :erpc.call(node, :code, :add_pathsa, [:code.get_path()])
    {:ok, _} = :erpc.call(node, Application, :ensure_all_started, [:logger])
    :ok = :erpc.call(node, Logger, :configure, [[level: :error]])
    {peer, node}
  end

  @doc """
  Starts the whole application on `node` with `env` (application env) and
  the gateway on `port`, metrics on `metrics_port`. Limits that tests would
  trip over are off, as in `Realtime.Test.AppNode`.
  """
  @spec start_app!(node, keyword, :inet.port_number(), :inet.port_number()) :: :ok
  def start_app!(node, env, port, metrics_port) do
    :ok = :erpc.call(node, System, :put_env, [%{"PORT" => "#{port}", "METRICS_PORT" => "#{metrics_port}"}])
    :ok = :erpc.call(node, Application, :load, [:realtime])
    base = [listener: true, announce: false, rest_rate_limits: %{enabled: false}, identify_limits: %{enabled: false}]
    for {k, v} <- Keyword.merge(base, env), do: :ok = :erpc.call(node, Application, :put_env, [:realtime, k, v])
    {:ok, _} = :erpc.call(node, Application, :ensure_all_started, [:realtime], 60_000)
    :ok
  end

  @doc "A loopback port that is free now."
  @spec free_port() :: :inet.port_number()
  def free_port do
    {:ok, socket} = :gen_tcp.listen(0, ip: {127, 0, 0, 1})
    {:ok, port} = :inet.port(socket)
    :gen_tcp.close(socket)
    port
  end

  @doc "Kills `node`'s OS process with SIGKILL, as a crash of the machine would end it."
  @spec kill9(node) :: :ok
  def kill9(node) do
    os_pid = :erpc.call(node, System, :pid, [])
    {_, 0} = System.cmd("kill", ["-9", os_pid])
    :ok
  end

  @doc "Distribution messages this node has sent to `node` so far (`:net_kernel.node_info/1`'s `out`)."
  @spec sent_to(node) :: non_neg_integer
  def sent_to(node) do
    {:ok, info} = :net_kernel.node_info(node)
    Keyword.fetch!(info, :out)
  end

  # Called on peers (this module is in the shared code path).

  @doc "Starts `module` (a child with `start_link/1`) here, detached from the caller, which is short-lived."
  @spec start_detached(module) :: :ok
  def start_detached(module) do
    {:ok, pid} = module.start_link([])
    Process.unlink(pid)
    :ok
  end

  @doc """
  Starts `n` gateway sessions of user `user_id` here, each attached to a
  stand-in socket that tells `report_to` `{:guild_create, socket, guild_id,
  count, os_time_us}` whenever its session sends a GUILD_CREATE: what a
  client would see, without WebSockets (for `mix bench cluster_recovery`).
  """
  @spec start_sessions(pos_integer, integer, pid) :: [pid]
  def start_sessions(n, user_id, report_to) do
    {:ok, user} = Realtime.Directory.user(user_id)

    for _ <- 1..n do
      socket = spawn(fn -> stand_in_socket(report_to, %{}) end)
      {:ok, _session, _id} = Realtime.Gateway.Session.start(socket, user: user, intents: 1, shard: {0, 1}, large_threshold: 50, encoding: :json)
      socket
    end
  end

  defp stand_in_socket(report_to, counts) do
    receive do
      {:gateway_dispatch, _seq, "GUILD_CREATE", {:term, %{"id" => id}}} ->
        counts = Map.update(counts, id, 1, &(&1 + 1))
        send(report_to, {:guild_create, self(), id, counts[id], System.os_time(:microsecond)})
        stand_in_socket(report_to, counts)

      _ ->
        stand_in_socket(report_to, counts)
    end
  end

  @doc "Spawns `n` processes that keep what they receive until asked with `{:dump, from}`."
  @spec spawn_recorders(pos_integer) :: [pid]
  def spawn_recorders(n), do: for(_ <- 1..n, do: spawn(fn -> record([]) end))

  @doc "What a recorder received, oldest first."
  @spec dump(pid) :: [term]
  def dump(recorder) do
    send(recorder, {:dump, self()})

    receive do
      {:recorded, ^recorder, got} -> got
    after
      10_000 -> flunk("recorder #{inspect(recorder)} did not answer")
    end
  end

  defp record(acc) do
    receive do
      {:dump, from} -> send(from, {:recorded, self(), Enum.reverse(acc)})
      msg -> record([msg | acc])
    end
  end

  @doc "Polls `fun` every 50 ms until it returns a truthy value, for at most `ms`."
  @spec eventually((-> term), pos_integer, String.t()) :: term
  def eventually(fun, ms \\ 10_000, what \\ "condition") do
    deadline = System.monotonic_time(:millisecond) + ms
    poll(fun, deadline, what)
  end

  defp poll(fun, deadline, what) do
    case fun.() do
      result when result not in [nil, false] ->
        result

      _ ->
        if System.monotonic_time(:millisecond) > deadline, do: flunk("#{what} did not hold within the time limit")
        Process.sleep(50)
        poll(fun, deadline, what)
    end
  end
end
