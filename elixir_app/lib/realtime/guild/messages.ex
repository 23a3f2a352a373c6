defmodule Realtime.Guild.Messages do
  @moduledoc """
  A guild's rules for messages: posting, editing, deleting, reacting,
  typing, and reading history, as functions over `Realtime.Guild.State`.

  Writes return a `Realtime.Guild.Change`: the message rows to store, and
  the events to dispatch once they are stored. Posting, editing and
  reacting are pipelined (they change nothing another request's checks
  depend on); deleting is a barrier, so that an edit cannot write a deleted
  message back.

  Reads of history are answered from the guild's cache of the newest
  messages (`Realtime.Guild.MessageCache`) when it holds the page, and
  otherwise by the caller reading the store, not by the guild process.
  """

  alias Realtime.{Bitmap, Snowflake, Store}
  alias Realtime.Gateway.Payloads
  alias Realtime.Guild.{Audience, Change, Mentions, MessageCache, Permissions, Rows, State}

  @doc """
  Posts a message from `author_id` in `channel_id`: MESSAGE_CREATE to every
  session allowed to see it once stored. Errors: `:unknown_channel`,
  `:missing_access` (no VIEW_CHANNEL, or not a member) and
  `:missing_permissions` (no SEND_MESSAGES).
  """
  @spec create(State.t(), integer, integer, String.t(), term) :: Change.t() | {:error, atom}
  def create(state, channel_id, author_id, content, nonce \\ nil) do
    with {:ok, channel} <- State.fetch_channel(state, channel_id),
         {:ok, member} <- State.fetch_member(state, author_id),
         perms = Permissions.in_channel(state.guild, member, channel),
         :ok <- State.check(perms, :view_channel, :missing_access),
         :ok <- State.check(perms, :send_messages, :missing_permissions) do
      msg = %{
        id: Snowflake.next(),
        channel_id: channel_id,
        guild_id: state.guild.id,
        author: State.user!(author_id),
        member: member,
        content: content,
        mentions: mentions(state, content, perms),
        nonce: nonce,
        reactions: []
      }

      Change.new([Rows.message(msg)], &created(&1, msg), :pipelined)
    end
  end

  defp created(state, msg) do
    payload = dispatch_message(state, "MESSAGE_CREATE", msg)
    MessageCache.put_new(state.messages, msg)
    push(state, msg)
    {{:ok, payload}, %{state | passive_channels: Map.put(state.passive_channels, msg.channel_id, msg.id)}}
  end

  @doc "Edits a message of `user_id`'s (MESSAGE_UPDATE)."
  @spec update(State.t(), integer, integer, integer, String.t()) :: Change.t() | {:error, term}
  def update(state, channel_id, message_id, user_id, content) do
    with {:ok, msg} <- find(state, channel_id, message_id),
         :ok <- if(msg.author.id == user_id, do: :ok, else: {:error, :cannot_edit}),
         {:ok, perms} <- State.channel_permissions(state, channel_id, user_id) do
      edited = %{msg | content: content, mentions: mentions(state, content, perms)} |> Map.put(:edited, DateTime.to_iso8601(DateTime.utc_now()))
      Change.new([Rows.message(edited)], &updated(&1, edited), :pipelined)
    end
  end

  defp updated(state, msg) do
    payload = dispatch_message(state, "MESSAGE_UPDATE", msg)
    MessageCache.update(state.messages, msg)
    {{:ok, payload}, state}
  end

  @doc "Deletes a message: its author, or a member with MANAGE_MESSAGES (MESSAGE_DELETE)."
  @spec delete(State.t(), integer, integer, integer) :: Change.t() | {:error, term}
  def delete(state, channel_id, message_id, user_id) do
    with {:ok, msg} <- find(state, channel_id, message_id),
         {:ok, perms} <- State.channel_permissions(state, channel_id, user_id),
         :ok <- author_or(msg, user_id, perms, :manage_messages) do
      Change.new([Rows.delete(:messages, channel_id, message_id)], &deleted(&1, channel_id, message_id))
    end
  end

  defp deleted(state, channel_id, message_id) do
    d = %{"id" => to_string(message_id), "channel_id" => to_string(channel_id), "guild_id" => to_string(state.guild.id)}
    State.dispatch(state, Bitmap.intersection(state.views[channel_id], state.intents[:GUILD_MESSAGES]), "MESSAGE_DELETE", d)
    MessageCache.delete(state.messages, channel_id, message_id)
    {:ok, state}
  end

  defp author_or(%{author: %{id: id}}, id, _perms, _perm), do: :ok
  defp author_or(_msg, _user, perms, perm), do: State.check(perms, perm, :missing_permissions)

  # A message of the channel, from the cache or else the store (a point
  # read: the only store read a guild process makes after it starts).
  defp find(state, channel_id, message_id) do
    with {:ok, _channel} <- State.fetch_channel(state, channel_id) do
      case MessageCache.fetch(state.messages, channel_id, message_id) do
        {:ok, msg} -> {:ok, msg}
        :error -> read_message(channel_id, message_id)
      end
    end
  end

  @doc "Message `message_id` of `channel_id` from the store, with its reactions."
  @spec read_message(integer, integer) :: {:ok, map} | {:error, :unknown_message | {:store, Store.reason()}}
  def read_message(channel_id, message_id) do
    with {:ok, data} when data != nil <- Store.read({:get, :messages, channel_id, message_id}),
         {:ok, reactions} <- Store.read({:reactions, channel_id, message_id}) do
      {:ok, Map.put(Rows.decode(data), :reactions, Rows.reactions(for {_, e, u} <- reactions, do: {e, u}))}
    else
      {:ok, nil} -> {:error, :unknown_message}
      {:error, reason} -> {:error, {:store, reason}}
    end
  end

  @doc """
  Adds `user_id`'s reaction with `emoji` (`%{"id" => nil, "name" => ...}`)
  to a message and sends MESSAGE_REACTION_ADD. Needs VIEW_CHANNEL and
  READ_MESSAGE_HISTORY, and ADD_REACTIONS to be the first with that emoji.
  Reacting twice is a no-op.
  """
  @spec add_reaction(State.t(), integer, integer, integer, map) :: Change.t() | {:error, term}
  def add_reaction(state, channel_id, message_id, user_id, emoji) do
    with {:ok, perms} <- State.channel_permissions(state, channel_id, user_id),
         :ok <- State.check(perms, :view_channel, :missing_access),
         :ok <- State.check(perms, :read_message_history, :missing_permissions),
         {:ok, msg} <- find(state, channel_id, message_id) do
      case List.keyfind(msg.reactions, emoji, 0) do
        {_, users} -> if MapSet.member?(users, user_id), do: unchanged(), else: react(msg, user_id, emoji, true)
        nil -> with :ok <- State.check(perms, :add_reactions, :missing_permissions), do: react(msg, user_id, emoji, true)
      end
    end
  end

  @doc "Removes `user_id`'s reaction with `emoji` (MESSAGE_REACTION_REMOVE); a no-op without one."
  @spec remove_reaction(State.t(), integer, integer, integer, map) :: Change.t() | {:error, term}
  def remove_reaction(state, channel_id, message_id, user_id, emoji) do
    with {:ok, perms} <- State.channel_permissions(state, channel_id, user_id),
         :ok <- State.check(perms, :view_channel, :missing_access),
         {:ok, msg} <- find(state, channel_id, message_id) do
      case List.keyfind(msg.reactions, emoji, 0) do
        {_, users} -> if MapSet.member?(users, user_id), do: react(msg, user_id, emoji, false), else: unchanged()
        nil -> unchanged()
      end
    end
  end

  defp unchanged, do: Change.new([], &{:ok, &1})

  defp react(msg, user_id, emoji, add?) do
    op = {:react, msg.channel_id, msg.id, emoji["name"], user_id, add?}
    Change.new([op], &reacted(&1, msg, user_id, emoji, add?), :pipelined)
  end

  # Updates the cached copy (if any) from what it holds now, and tells who
  # sees the channel and asked for reactions.
  defp reacted(state, msg, user_id, emoji, add?) do
    with {:ok, cached} <- MessageCache.fetch(state.messages, msg.channel_id, msg.id),
         do: MessageCache.update(state.messages, %{cached | reactions: toggle(cached.reactions, emoji, user_id, add?)})

    d = %{
      "user_id" => to_string(user_id),
      "channel_id" => to_string(msg.channel_id),
      "message_id" => to_string(msg.id),
      "guild_id" => to_string(state.guild.id),
      "emoji" => emoji,
      "burst" => false,
      "type" => 0
    }

    {t, d} = reaction_event(add?, d, state, msg)
    State.dispatch(state, Bitmap.intersection(state.views[msg.channel_id], state.intents[:GUILD_MESSAGE_REACTIONS]), t, d)
    {:ok, state}
  end

  defp reaction_event(true = _added, d, state, msg) do
    user_id = String.to_integer(d["user_id"])
    member = Payloads.member(state.guild.members[user_id], State.user!(user_id))
    {"MESSAGE_REACTION_ADD", Map.merge(d, %{"member" => member, "message_author_id" => to_string(msg.author.id), "burst_colors" => []})}
  end

  defp reaction_event(false, d, _state, _msg), do: {"MESSAGE_REACTION_REMOVE", d}

  # A message's reactions with `user_id` added to or removed from `emoji`,
  # keeping first-reaction order and dropping an emoji nobody has left.
  defp toggle(reactions, emoji, user_id, add?) do
    users = reactions |> List.keyfind(emoji, 0, {emoji, MapSet.new()}) |> elem(1)
    users = if add?, do: MapSet.put(users, user_id), else: MapSet.delete(users, user_id)

    cond do
      MapSet.size(users) == 0 -> List.keydelete(reactions, emoji, 0)
      List.keymember?(reactions, emoji, 0) -> List.keyreplace(reactions, emoji, 0, {emoji, users})
      true -> reactions ++ [{emoji, users}]
    end
  end

  @doc "TYPING_START in `channel_id`, to members who see it and asked for typing events."
  @spec typing(State.t(), integer, integer) :: Change.t() | {:error, atom}
  def typing(state, channel_id, user_id) do
    with {:ok, perms} <- State.channel_permissions(state, channel_id, user_id),
         :ok <- State.check(perms, :send_messages, :missing_permissions) do
      Change.new([], fn state ->
        d = %{
          "channel_id" => to_string(channel_id),
          "guild_id" => to_string(state.guild.id),
          "user_id" => to_string(user_id),
          "timestamp" => System.os_time(:second),
          "member" => Payloads.member(state.guild.members[user_id], State.user!(user_id))
        }

        State.dispatch(state, Bitmap.intersection(state.views[channel_id], state.intents[:GUILD_MESSAGE_TYPING]), "TYPING_START", d)
        {:ok, state}
      end)
    end
  end

  @doc """
  A page of channel history for `user_id`: `{:ok, {:cached, messages}}`
  rendered for them when the cache holds it, `{:ok, :uncached}` when the
  caller must read the store (then render with `render/2`). Needs
  VIEW_CHANNEL (`:missing_access`); without READ_MESSAGE_HISTORY the page is
  empty, as on Discord.
  """
  @spec page(State.t(), integer, integer, Store.page(), pos_integer) :: {:ok, {:cached, [map]} | :uncached} | {:error, atom}
  def page(state, channel_id, user_id, page, limit) do
    with {:ok, perms} <- State.channel_permissions(state, channel_id, user_id),
         :ok <- State.check(perms, :view_channel, :missing_access) do
      case {State.check(perms, :read_message_history, :missing_permissions), MessageCache.page(state.messages, channel_id, page, limit)} do
        {{:error, _}, _} -> {:ok, {:cached, []}}
        {:ok, {:ok, msgs}} -> {:ok, {:cached, Enum.map(msgs, &render(&1, user_id))}}
        {:ok, :miss} -> {:ok, :uncached}
      end
    end
  end

  @doc """
  One message for `user_id` (needs VIEW_CHANNEL and READ_MESSAGE_HISTORY):
  `{:ok, {:cached, message}}` or `{:ok, :uncached}` as for `page/5`.
  """
  @spec message(State.t(), integer, integer, integer) :: {:ok, {:cached, map} | :uncached} | {:error, atom}
  def message(state, channel_id, message_id, user_id) do
    with {:ok, perms} <- State.channel_permissions(state, channel_id, user_id),
         :ok <- State.check(perms, :view_channel, :missing_access),
         :ok <- State.check(perms, :read_message_history, :missing_permissions) do
      case MessageCache.fetch(state.messages, channel_id, message_id) do
        {:ok, msg} -> {:ok, {:cached, render(msg, user_id)}}
        :error -> {:ok, :uncached}
      end
    end
  end

  @doc """
  A message as `viewer_id` reads it over REST: reactions say whether they
  reacted, and bots without the MESSAGE_CONTENT privilege read empty
  content, except in their own messages and those that mention them, as on
  Discord.
  """
  @spec render(map, integer) :: map
  def render(msg, viewer_id) do
    payload = Payloads.message(msg, viewer_id)
    if reads_content?(State.user!(viewer_id), msg), do: payload, else: %{payload | "content" => ""}
  end

  defp reads_content?(%{bot: false}, _msg), do: true

  defp reads_content?(viewer, msg) do
    "MESSAGE_CONTENT" in viewer.privileged_intents or msg.author.id == viewer.id or Enum.any?(msg.mentions.users, &(&1.id == viewer.id))
  end

  # Mentioned members who are offline and may see the channel get a push.
  defp push(state, msg) do
    if Realtime.Push.enabled?() do
      mentions = %{msg.mentions | users: Enum.map(msg.mentions.users, & &1.id)}
      {targets, capped} = Audience.push_targets(state.audience, msg.channel_id, mentions, Realtime.Push.cap())
      Realtime.Push.notify(msg, List.delete(targets, msg.author.id), capped)
    end
  end

  # The mentions of `content` that apply here, with users resolved.
  defp mentions(state, content, author_perms) do
    may_everyone = Permissions.has?(author_perms, Permissions.bit(:mention_everyone))
    m = content |> Mentions.parse() |> Mentions.resolve(state.guild, may_everyone)
    %{m | users: Enum.map(m.users, &State.user!/1)}
  end

  # Sends MESSAGE_CREATE or MESSAGE_UPDATE for `msg` and returns its
  # payload. Readers are the sessions that see the channel and asked for
  # messages (in passive guilds, only the active ones and those the message
  # mentions); content goes to those with MESSAGE_CONTENT and to the
  # author's own sessions, the others get it empty.
  defp dispatch_message(state, t, msg) do
    payload = Payloads.message(msg)
    readers = Bitmap.intersection(state.views[msg.channel_id], state.intents[:GUILD_MESSAGES])
    Bitmap.intersection_in_place(readers, Bitmap.union(state.active, mentioned(state, msg.mentions)))
    full = Bitmap.intersection(readers, state.intents[:MESSAGE_CONTENT])
    author_id = msg.author.id
    for {slot, %{user_id: ^author_id}} <- state.slots, Bitmap.member?(readers, slot), do: Bitmap.put(full, slot)
    State.dispatch(state, full, t, payload)
    State.dispatch(state, Bitmap.difference(readers, full), t, %{payload | "content" => ""})
    payload
  end

  # Slots of sessions a message mentions: all for @everyone or @here, else
  # those of mentioned users and of members with a mentioned role.
  defp mentioned(state, %{everyone: true}), do: state.connected

  defp mentioned(state, %{users: users, roles: roles}) do
    users = MapSet.new(users, & &1.id)

    Bitmap.from_list(
      for {slot, %{user_id: uid}} <- state.slots,
          MapSet.member?(users, uid) or Enum.any?(state.guild.members[uid].roles, &(&1 in roles)),
          do: slot
    )
  end
end
