defmodule Realtime.Test.GatewayCase do
  @moduledoc """
  Gateway tests: each module gets its own listener on a free loopback port.
  Not async: gateway tests share the seeded guilds and the application env.
  """
  use ExUnit.CaseTemplate

  using do
    quote do
      import Realtime.Test.GatewayCase, only: [restore_guild: 1, guild_pid: 1]
      alias Realtime.Test.GatewayClient, as: Client
      @demo "MTAwMDAwMDAwMDAwMDAwMDAwMQ.RTdev0.demo-bot-dev-token-not-a-secret"
      @limited "MTAwMDAwMDAwMDAwMDAwMDAwMg.RTdev0.limited-bot-dev-token-not-a-secret"
      @hq 1_100_000_000_000_000_001
      @side 1_100_000_000_004_194_305
      @general 1_100_000_000_000_000_101
      @staff 1_100_000_000_000_000_103
      @announcements 1_100_000_000_000_000_102
    end
  end

  @doc "The process of guild `id`."
  def guild_pid(id) do
    {:ok, pid} = Realtime.Guild.Placement.lookup(id)
    pid
  end

  @doc """
  Puts guild `id` back to its seeded state: its stored rows are replaced by
  the dataset's, and its process restarts from them. For tests that change
  members, roles or channels.
  """
  def restore_guild(id) do
    seed = Realtime.Seed.configured()
    guild = Enum.find(seed.guilds, &(&1.id == id))
    clear = for part <- [:channels, :roles, :members], do: {:delete_scope, part, id}
    :ok = Realtime.Store.write(id, clear ++ Realtime.Guild.Rows.guild(guild))
    {:ok, pid} = Realtime.Guild.Placement.lookup(id)
    ref = Process.monitor(pid)
    Process.exit(pid, :kill)
    receive do: ({:DOWN, ^ref, _, _, _} -> :ok)
    wait_restarted(id, pid, 100)
  end

  defp wait_restarted(id, old, tries) do
    case Realtime.Guild.Placement.lookup(id) do
      {:ok, new} when new != old -> :ok
      _ when tries > 0 -> Process.sleep(20) && wait_restarted(id, old, tries - 1)
      _ -> raise "guild #{id} did not restart"
    end
  end

  setup_all do
    ref = :"gateway_test_#{System.unique_integer([:positive])}"
    {:ok, _} = Supervisor.start_child(Realtime.Supervisor, {Realtime.Gateway.Listener, port: 0, ref: ref})
    port = Realtime.Gateway.Listener.port(ref)
    Application.put_env(:realtime, :gateway_url, "ws://127.0.0.1:#{port}")

    on_exit(fn ->
      Supervisor.terminate_child(Realtime.Supervisor, {:ranch_embedded_sup, ref})
      Supervisor.delete_child(Realtime.Supervisor, {:ranch_embedded_sup, ref})
    end)

    {:ok, port: port, listener: ref}
  end
end
