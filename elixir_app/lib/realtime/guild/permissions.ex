defmodule Realtime.Guild.Permissions do
  @moduledoc """
  Permissions computed the way Discord documents them: base permissions from
  @everyone and the member's roles (the owner and ADMINISTRATOR have all),
  then the channel's overwrites for @everyone, then for the member's roles
  together, then for the member.

  Pure functions over plain maps: a guild `%{id, owner_id, roles}` with
  `roles` a map from role id to `%{permissions: integer}`, a member
  `%{user_id, roles: [role_id]}`, and a channel with
  `permission_overwrites: [%{id, type, allow, deny}]` (type 0 role, 1 member).
  """

  import Bitwise

  @flags [
    create_instant_invite: 0,
    kick_members: 1,
    ban_members: 2,
    administrator: 3,
    manage_channels: 4,
    manage_guild: 5,
    add_reactions: 6,
    view_audit_log: 7,
    priority_speaker: 8,
    stream: 9,
    view_channel: 10,
    send_messages: 11,
    send_tts_messages: 12,
    manage_messages: 13,
    embed_links: 14,
    attach_files: 15,
    read_message_history: 16,
    mention_everyone: 17,
    use_external_emojis: 18,
    view_guild_insights: 19,
    connect: 20,
    speak: 21,
    mute_members: 22,
    deafen_members: 23,
    move_members: 24,
    use_vad: 25,
    change_nickname: 26,
    manage_nicknames: 27,
    manage_roles: 28,
    manage_webhooks: 29,
    manage_guild_expressions: 30,
    use_application_commands: 31,
    request_to_speak: 32,
    manage_events: 33,
    manage_threads: 34,
    create_public_threads: 35,
    create_private_threads: 36,
    use_external_stickers: 37,
    send_messages_in_threads: 38,
    use_embedded_activities: 39,
    moderate_members: 40,
    view_creator_monetization_analytics: 41,
    use_soundboard: 42,
    create_guild_expressions: 43,
    create_events: 44,
    use_external_sounds: 45,
    send_voice_messages: 46,
    send_polls: 49,
    use_external_apps: 50
  ]

  @all Enum.reduce(@flags, 0, fn {_, bit}, acc -> acc ||| 1 <<< bit end)

  @typedoc "A permission bitfield."
  @type t :: non_neg_integer

  @doc "The bit of a named permission, e.g. `bit(:view_channel)`."
  @spec bit(atom) :: t
  for {name, b} <- @flags do
    def bit(unquote(name)), do: unquote(1 <<< b)
  end

  @doc "Every permission."
  @spec all() :: t
  def all, do: @all

  @doc "Whether `perms` include every bit of `wanted`."
  @spec has?(t, t) :: boolean
  def has?(perms, wanted), do: (perms &&& wanted) == wanted

  @doc "The member's guild-wide permissions."
  @spec base(map, map) :: t
  def base(%{owner_id: owner}, %{user_id: owner}), do: @all

  def base(guild, member) do
    everyone = guild.roles |> Map.get(guild.id, %{permissions: 0}) |> Map.fetch!(:permissions)

    perms =
      Enum.reduce(member.roles, everyone, fn role_id, acc ->
        case Map.fetch(guild.roles, role_id) do
          {:ok, role} -> acc ||| role.permissions
          :error -> acc
        end
      end)

    if has?(perms, bit(:administrator)), do: @all, else: perms
  end

  @doc "The member's permissions in `channel`."
  @spec in_channel(map, map, map) :: t
  def in_channel(guild, member, channel), do: apply_overwrites(base(guild, member), guild, member, channel)

  @doc "Applies `channel`'s overwrites to base permissions `base`."
  @spec apply_overwrites(t, map, map, map) :: t
  def apply_overwrites(base, guild, member, channel) do
    if has?(base, bit(:administrator)) do
      @all
    else
      overwrites = Map.new(channel.permission_overwrites, &{&1.id, &1})
      member_roles = MapSet.new(member.roles)

      base
      |> overwrite(Map.get(overwrites, guild.id))
      |> overwrite(role_overwrites(channel.permission_overwrites, member_roles))
      |> overwrite(Map.get(overwrites, member.user_id))
    end
  end

  defp role_overwrites(overwrites, member_roles) do
    Enum.reduce(overwrites, %{allow: 0, deny: 0}, fn
      %{type: 0, id: id} = o, acc ->
        if MapSet.member?(member_roles, id),
          do: %{allow: acc.allow ||| o.allow, deny: acc.deny ||| o.deny},
          else: acc

      _, acc ->
        acc
    end)
  end

  defp overwrite(perms, nil), do: perms
  defp overwrite(perms, %{allow: allow, deny: deny}), do: (perms &&& bnot(deny)) ||| allow
end
