defmodule Realtime.Push.Preferences do
  @moduledoc """
  Users' notification settings per guild: the guild muted, or some of its
  channels. Stored (`:settings` rows of `Realtime.Store`, scope the user,
  id the guild, value `%{muted: boolean, muted_channels: [channel_id]}`)
  and cached in ETS: a sender reads the cache, and reads the store only for
  a pair it has not seen.

  Set with `PATCH /users/@me/guilds/{guild_id}/settings` (Discord's user
  guild settings; `muted` and `channel_overrides: [{channel_id, muted}]`).
  """
  use GenServer

  alias Realtime.Guild.Rows
  alias Realtime.Store

  @table __MODULE__
  @default %{muted: false, muted_channels: []}

  @doc false
  def start_link(_opts), do: GenServer.start_link(__MODULE__, nil, name: __MODULE__)

  @doc "The settings of `user_id` in `guild_id`."
  @spec get(integer, integer) :: {:ok, map} | {:error, term}
  def get(user_id, guild_id) do
    case :ets.lookup(@table, {user_id, guild_id}) do
      [{_, prefs}] ->
        {:ok, prefs}

      [] ->
        with {:ok, row} <- Store.read({:get, :settings, user_id, guild_id}) do
          prefs = if row, do: Rows.decode(row), else: @default
          :ets.insert(@table, {{user_id, guild_id}, prefs})
          {:ok, prefs}
        end
    end
  end

  @doc "Changes the settings (stored before they take effect); returns them."
  @spec update(integer, integer, map) :: {:ok, map} | {:error, term}
  def update(user_id, guild_id, changes) do
    with {:ok, prefs} <- get(user_id, guild_id) do
      prefs = %{
        muted: Map.get(changes, :muted, prefs.muted),
        muted_channels:
          Enum.reduce(Map.get(changes, :channels, %{}), MapSet.new(prefs.muted_channels), fn
            {cid, true}, acc -> MapSet.put(acc, cid)
            {cid, false}, acc -> MapSet.delete(acc, cid)
          end)
          |> Enum.sort()
      }

      with :ok <- Store.write(user_id, [Rows.put(:settings, user_id, guild_id, prefs)]) do
        :ets.insert(@table, {{user_id, guild_id}, prefs})
        {:ok, prefs}
      end
    end
  end

  @doc "Whether a push to `user_id` about `channel_id` of `guild_id` is muted (unknown settings: not muted)."
  @spec muted?(integer, integer, integer) :: boolean
  def muted?(user_id, guild_id, channel_id) do
    case get(user_id, guild_id) do
      {:ok, %{muted: true}} -> true
      {:ok, %{muted_channels: channels}} -> channel_id in channels
      {:error, _} -> false
    end
  end

  @impl true
  def init(nil) do
    :ets.new(@table, [:named_table, :public, :set, read_concurrency: true])
    {:ok, nil}
  end
end
