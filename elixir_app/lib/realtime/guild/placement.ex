defmodule Realtime.Guild.Placement do
  @moduledoc """
  Where guild processes live. Every lookup of a guild goes through here, so
  that guilds can later be spread over several nodes (consistent hashing,
  distributed Erlang) without touching sessions, which only ever hold pids
  and monitor them. Today every guild is local, in `Realtime.Guild.Registry`.
  """

  @registry Realtime.Guild.Registry

  @doc "The pid of guild `id`."
  @spec lookup(integer) :: {:ok, pid} | :error
  def lookup(id) do
    case Registry.lookup(@registry, id) do
      [{pid, _}] -> {:ok, pid}
      [] -> :error
    end
  end

  @doc "Starts the process of guild `id`, which loads itself from the store."
  @spec start(integer) :: DynamicSupervisor.on_start_child()
  def start(id), do: DynamicSupervisor.start_child(Realtime.Guild.DynamicSupervisor, {Realtime.Guild, id})

  @doc "The name a guild process registers under."
  @spec via(integer) :: {:via, Registry, {atom, integer}}
  def via(id), do: {:via, Registry, {@registry, id}}
end
