defmodule Realtime.Test.AppNode do
  @moduledoc """
  The application running in a separate OS process (its own BEAM, started
  with `elixir` on this build's code), listening on a free loopback port,
  with the store the test chooses: for tests that kill it with SIGKILL,
  restart it on the same data, or watch it refuse to start.

  REST rate limits are off in the node, so that storms measure the store.
  """

  defstruct [:port, :os_pid, :http, :metrics]

  @type t :: %__MODULE__{port: port, os_pid: non_neg_integer, http: :inet.port_number(), metrics: :inet.port_number()}

  # Started in the node: settings, then the application, then a control
  # loop on stdin (one JSON reply per command line).
  @boot ~S"""
  # Connection lifecycle lines (one per connection) would flood the port.
  Logger.configure(level: :warning)
  Application.load(:realtime)
  Application.put_env(:realtime, :listener, true)
  Application.delete_env(:realtime, :data_dir)
  Application.put_env(:realtime, :rest_rate_limits, %{enabled: false})
  Application.put_env(:realtime, :identify_limits, %{enabled: false})
  for {k, v} <- :erlang.binary_to_term(Base.decode64!(System.get_env("NODE_APP_ENV", "g2o="))), do: Application.put_env(:realtime, k, v)
  case Application.ensure_all_started(:realtime) do
    {:ok, _} -> IO.puts("NODE-READY")
    {:error, reason} -> IO.puts("NODE-FAILED #{inspect(reason)}"); System.halt(3)
  end
  reply = fn map -> IO.puts("NODE-REPLY " <> Realtime.JSON.encode(map)) end
  Stream.repeatedly(fn -> IO.gets("") end)
  |> Stream.take_while(&is_binary/1)
  |> Enum.each(fn line ->
    case String.trim(line) do
      "stats" ->
        mem = Map.new(:erlang.memory(), fn {k, v} -> {Atom.to_string(k), v} end)
        rss = File.read!("/proc/self/status") |> then(&Regex.run(~r/VmRSS:\s+(\d+) kB/, &1)) |> Enum.at(1) |> String.to_integer()
        reply.(Map.merge(mem, %{"rss" => rss * 1024, "process_count" => :erlang.system_info(:process_count), "port_count" => :erlang.system_info(:port_count)}))
      "sched_begin" ->
        :erlang.system_flag(:scheduler_wall_time, true)
        :persistent_term.put(:node_sched, :scheduler.sample_all())
        reply.(%{"ok" => true})
      "sched_end" ->
        util = :scheduler.utilization(:persistent_term.get(:node_sched), :scheduler.sample_all())
        reply.(%{"utilization" => for({kind, id, u, _} <- util, kind in [:normal, :dirty_cpu], do: %{"kind" => kind, "id" => id, "u" => u}), "total" => Enum.find_value(util, fn {:total, u, _} -> u; _ -> nil end)})
      "reductions" ->
        # Work done so far by kind of process: where the time goes per event.
        kind = fn pid ->
          # Cowboy's connection processes (our sockets) are the unnamed ones
          # that proc_lib did not start.
          case Process.info(pid, [:registered_name, :dictionary]) do
            [registered_name: name, dictionary: dict] ->
              case {name, dict[:"$initial_call"]} do
                {n, _} when is_atom(n) and n != [] -> n |> Atom.to_string() |> String.replace(~r/\.\d+$/, "")
                {_, {mod, _, _}} -> inspect(mod)
                _ -> "connections"
              end
            _ -> "gone"
          end
        end
        totals = Enum.reduce(Process.list(), %{}, fn pid, acc ->
          case Process.info(pid, :reductions) do
            {:reductions, r} -> Map.update(acc, kind.(pid), r, &(&1 + r))
            nil -> acc
          end
        end)
        reply.(totals)
      "gc" ->
        for p <- Process.list(), do: :erlang.garbage_collect(p)
        reply.(%{"ok" => true})
      other ->
        reply.(%{"error" => "unknown command #{other}"})
    end
  end)
  System.halt(0)
  """

  @doc """
  Starts a node with `env` (`[{"REALTIME_DATA_DIR", dir}]`, ...) and waits
  until it serves, or until it exits: `{:ok, node}` or `{:exited, status,
  output}`. Bounded by `timeout` ms.
  """
  @spec start([{String.t(), String.t()}], keyword) :: {:ok, t} | {:exited, integer, String.t()}
  def start(env, opts \\ []) do
    http = free_port()
    metrics = free_port()
    paths = Enum.flat_map(code_paths(), &["-pa", &1])
    app_env = opts |> Keyword.get(:app_env, []) |> :erlang.term_to_binary() |> Base.encode64()
    env = [{"PORT", Integer.to_string(http)}, {"METRICS_PORT", Integer.to_string(metrics)}, {"MIX_ENV", "test"}, {"NODE_APP_ENV", app_env} | env]
    elixir = System.find_executable("elixir")
    erl = if flags = opts[:erl], do: ["--erl", flags], else: []
    args = erl ++ paths ++ ["-e", @boot]

    # A node for many connections gets a file limit of its own (prlimit execs it).
    {exe, args} =
      case opts[:fd_limit] do
        nil -> {elixir, args}
        n -> {System.find_executable("prlimit"), ["--nofile=#{n}:#{n}", elixir | args]}
      end

    port = Port.open({:spawn_executable, exe}, [:binary, :exit_status, :stderr_to_stdout, {:line, 65_536}, args: args, env: charlist_env(env)])
    timeout = Keyword.get(opts, :timeout, 60_000)

    {:os_pid, os_pid} = Port.info(port, :os_pid)
    await_ready(%__MODULE__{port: port, os_pid: os_pid, http: http, metrics: metrics}, [], System.monotonic_time(:millisecond) + timeout)
  end

  defp await_ready(node, lines, deadline) do
    %{port: port} = node

    receive do
      {^port, {:data, {_, "NODE-READY"}}} -> {:ok, node}
      {^port, {:data, {_, line}}} -> await_ready(node, [line | lines], deadline)
      {^port, {:exit_status, status}} -> {:exited, status, lines |> Enum.reverse() |> Enum.join("\n")}
    after
      max(deadline - System.monotonic_time(:millisecond), 0) ->
        kill(node)
        raise "the node did not start in time:\n" <> (lines |> Enum.reverse() |> Enum.join("\n"))
    end
  end

  @doc "Kills the node with SIGKILL and waits for it to be gone."
  @spec kill(t) :: :ok
  def kill(node) do
    System.cmd("kill", ["-9", Integer.to_string(node.os_pid)])
    # The port's exit message goes to the process that opened it, which may
    # not be this one: watch the OS process itself.
    gone = Enum.any?(1..400, fn _ -> if alive?(node.os_pid), do: Process.sleep(25) && false, else: true end)
    unless gone, do: raise("node #{node.os_pid} survived SIGKILL")
    %{port: port} = node

    receive do
      {^port, {:exit_status, _}} -> :ok
    after
      0 -> :ok
    end
  end

  defp alive?(os_pid), do: match?({_, 0}, System.cmd("kill", ["-0", Integer.to_string(os_pid)], stderr_to_stdout: true))

  @doc """
  Sends a control command (`stats`, `sched_begin`, `sched_end`, `gc`) and
  returns the node's decoded reply.
  """
  @spec command(t, String.t(), timeout) :: map
  def command(%{port: port}, command, timeout \\ 60_000) do
    Port.command(port, command <> "\n")
    await_reply(port, timeout)
  end

  defp await_reply(port, timeout) do
    receive do
      {^port, {:data, {_, "NODE-REPLY " <> json}}} -> json |> Realtime.JSON.decode() |> elem(1)
      {^port, {:data, _other}} -> await_reply(port, timeout)
      {^port, {:exit_status, status}} -> raise "the node exited (#{status})"
    after
      timeout -> raise "the node did not answer"
    end
  end

  @doc "Output lines the node printed since it started serving."
  @spec output(t) :: [String.t()]
  def output(%{port: port}) do
    receive do
      {^port, {:data, {_, line}}} -> [line | output(%{port: port})]
    after
      0 -> []
    end
  end

  # This build's code: the application, Cowboy and friends from _vendor,
  # and Gun's dependencies. Elixir's own come with `elixir`.
  defp code_paths do
    own = Path.dirname(:code.which(Realtime.Application))
    vendored = Path.wildcard(Path.expand("../../_vendor/*/ebin", __DIR__))
    [own | vendored]
  end

  defp charlist_env(env), do: for({k, v} <- env, do: {String.to_charlist(k), String.to_charlist(v)})

  defp free_port, do: Realtime.Test.ClusterPeers.free_port()
end
