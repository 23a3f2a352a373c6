defmodule Realtime.Test.AppNode do
  @moduledoc """
  The application running in a separate OS process (its own BEAM, started
  with `elixir` on this build's code), listening on a free loopback port,
  with the store the test chooses: for tests that kill it with SIGKILL,
  restart it on the same data, or watch it refuse to start.

  REST rate limits are off in the node, so that storms measure the store.
  """

  defstruct [:port, :os_pid, :http, :out]

  @type t :: %__MODULE__{port: port, os_pid: non_neg_integer, http: :inet.port_number(), out: pid}

  @boot ~S"""
  Application.load(:realtime)
  Application.put_env(:realtime, :listener, true)
  Application.delete_env(:realtime, :data_dir)
  Application.put_env(:realtime, :rest_rate_limits, %{enabled: false})
  Application.put_env(:realtime, :identify_limits, %{enabled: false})
  case Application.ensure_all_started(:realtime) do
    {:ok, _} -> IO.puts("NODE-READY"); Process.sleep(:infinity)
    {:error, reason} -> IO.puts("NODE-FAILED #{inspect(reason)}"); System.halt(3)
  end
  """

  @doc """
  Starts a node with `env` (`[{"REALTIME_DATA_DIR", dir}]`, ...) and waits
  until it serves, or until it exits: `{:ok, node}` or `{:exited, status,
  output}`. Bounded by `timeout` ms.
  """
  @spec start([{String.t(), String.t()}], timeout) :: {:ok, t} | {:exited, integer, String.t()}
  def start(env, timeout \\ 60_000) do
    http = free_port()
    paths = Enum.flat_map(code_paths(), &["-pa", &1])
    env = [{"PORT", Integer.to_string(http)}, {"MIX_ENV", "test"} | env]
    exe = System.find_executable("elixir")

    port =
      Port.open({:spawn_executable, exe}, [:binary, :exit_status, :stderr_to_stdout, {:line, 65_536}, args: paths ++ ["-e", @boot], env: charlist_env(env)])

    {:os_pid, os_pid} = Port.info(port, :os_pid)
    await_ready(%__MODULE__{port: port, os_pid: os_pid, http: http}, [], System.monotonic_time(:millisecond) + timeout)
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

  defp free_port do
    {:ok, socket} = :gen_tcp.listen(0, ip: {127, 0, 0, 1})
    {:ok, port} = :inet.port(socket)
    :gen_tcp.close(socket)
    port
  end
end
