defmodule Realtime.Guild.Channels do
  @moduledoc """
  A guild's rules for channels: creating, changing and deleting them
  (MANAGE_CHANNELS), and reading them, as functions over
  `Realtime.Guild.State`. Changes are barriers (`Realtime.Guild.Change`):
  they change who sees what.
  """

  alias Realtime.{Bitmap, Directory, Snowflake}
  alias Realtime.Guild.{Change, LazyLists, MessageCache, Rows, State}

  @doc "Creates a channel (CHANNEL_CREATE); needs MANAGE_CHANNELS."
  @spec create(State.t(), integer, map) :: Change.t() | {:error, atom}
  def create(state, user_id, attrs) do
    with :ok <- State.guild_permission(state, user_id, :manage_channels) do
      channel = %{
        id: Snowflake.next(),
        type: Map.get(attrs, :type, 0),
        name: attrs.name,
        position: map_size(state.guild.channels),
        parent_id: attrs[:parent_id],
        topic: attrs[:topic],
        permission_overwrites: Map.get(attrs, :permission_overwrites, [])
      }

      Change.new([Rows.put(:channels, state.guild.id, channel.id, channel)], &created(&1, channel))
    end
  end

  defp created(state, channel) do
    state = State.put_guild(state, :channels, channel.id, channel)
    state = %{state | views: Map.put(state.views, channel.id, Bitmap.new())}
    Directory.put_channel(channel.id, state.guild.id)
    State.recompute_views(state)
    payload = State.render_channel(state, channel)
    State.dispatch(state, Bitmap.intersection(state.views[channel.id], state.intents[:GUILDS]), "CHANNEL_CREATE", payload)
    {{:ok, payload}, State.refresh_audience(state)}
  end

  @doc """
  Changes a channel's name, topic or overwrites (CHANNEL_UPDATE, to those
  who saw it before or see it now); needs MANAGE_CHANNELS.
  """
  @spec update(State.t(), integer, integer, map) :: Change.t() | {:error, atom}
  def update(state, user_id, channel_id, attrs) do
    with {:ok, channel} <- State.fetch_channel(state, channel_id),
         :ok <- State.guild_permission(state, user_id, :manage_channels) do
      channel = Map.merge(channel, Map.take(attrs, [:name, :topic, :permission_overwrites]))
      Change.new([Rows.put(:channels, state.guild.id, channel_id, channel)], &updated(&1, channel))
    end
  end

  defp updated(state, channel) do
    before = Bitmap.copy(state.views[channel.id])
    state = State.put_guild(state, :channels, channel.id, channel)
    State.recompute_views(state)
    payload = State.render_channel(state, channel)
    State.dispatch(state, Bitmap.intersection(Bitmap.union(before, state.views[channel.id]), state.intents[:GUILDS]), "CHANNEL_UPDATE", payload)
    {{:ok, payload}, state |> LazyLists.rebuild() |> State.refresh_audience()}
  end

  @doc "Deletes a channel with its messages (CHANNEL_DELETE); needs MANAGE_CHANNELS."
  @spec delete(State.t(), integer, integer) :: Change.t() | {:error, atom}
  def delete(state, user_id, channel_id) do
    with {:ok, channel} <- State.fetch_channel(state, channel_id),
         :ok <- State.guild_permission(state, user_id, :manage_channels) do
      writes = [Rows.delete(:channels, state.guild.id, channel_id), {:delete_scope, :messages, channel_id}]
      Change.new(writes, &deleted(&1, channel))
    end
  end

  defp deleted(state, channel) do
    payload = State.render_channel(state, channel)
    State.dispatch(state, Bitmap.intersection(state.views[channel.id], state.intents[:GUILDS]), "CHANNEL_DELETE", payload)
    MessageCache.delete_channel(state.messages, channel.id)
    state = State.delete_guild(state, :channels, channel.id)
    {{:ok, payload}, State.refresh_audience(%{state | views: Map.delete(state.views, channel.id)})}
  end

  @doc "The channel object of `channel_id`, if `user_id` may view it."
  @spec fetch(State.t(), integer, integer) :: {:ok, map} | {:error, atom}
  def fetch(state, channel_id, user_id) do
    with {:ok, perms} <- State.channel_permissions(state, channel_id, user_id),
         :ok <- State.check(perms, :view_channel, :missing_access) do
      {:ok, State.render_channel(state, state.guild.channels[channel_id])}
    end
  end

  @doc "Every channel of the guild, for member `user_id`."
  @spec all(State.t(), integer) :: {:ok, [map]} | {:error, atom}
  def all(state, user_id) do
    with {:ok, _member} <- State.fetch_member(state, user_id), do: {:ok, State.channels(state)}
  end
end
