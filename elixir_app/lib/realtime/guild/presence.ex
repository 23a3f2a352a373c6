defmodule Realtime.Guild.Presence do
  @moduledoc """
  Who is online in a guild, as functions over `Realtime.Guild.State`.
  Presences are not stored: they live as long as the guild process, as on
  Discord.
  """

  alias Realtime.Bitmap
  alias Realtime.Guild.{LazyLists, State}

  @online ["online", "idle", "dnd"]

  @doc "A member's new presence (op 3), as PRESENCE_UPDATE to sessions with GUILD_PRESENCES."
  @spec update(State.t(), integer, map) :: State.t()
  def update(state, user_id, presence) do
    if Map.has_key?(state.guild.members, user_id) do
      d = Map.merge(presence, %{"user" => %{"id" => to_string(user_id)}, "guild_id" => to_string(state.guild.id)})
      State.dispatch(state, Bitmap.intersection(state.intents[:GUILD_PRESENCES], state.active), "PRESENCE_UPDATE", d)
      state = %{state | presences: Map.put(state.presences, user_id, d), passive_members: MapSet.put(state.passive_members, user_id)}
      LazyLists.member_changed(state, user_id)
    else
      state
    end
  end

  @doc """
  Whether a member is online: their last presence says so, or, without
  one, they have a connected session.
  """
  @spec online?(State.t(), integer) :: boolean
  def online?(state, user_id) do
    case state.presences[user_id] do
      %{"status" => status} -> status in @online
      nil -> Enum.any?(state.slots, fn {_, s} -> s.user_id == user_id end)
    end
  end

  @doc "How many members are online by `online?/2`, counted in O(presences + sessions)."
  @spec count(State.t()) :: non_neg_integer
  def count(state) do
    by_presence = Enum.count(state.presences, fn {_, p} -> p["status"] in @online end)
    connected = for {_, %{user_id: uid}} <- state.slots, not Map.has_key?(state.presences, uid), uniq: true, do: uid
    by_presence + length(connected)
  end
end
