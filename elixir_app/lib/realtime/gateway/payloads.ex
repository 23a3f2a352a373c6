defmodule Realtime.Gateway.Payloads do
  @moduledoc """
  Discord API objects rendered from the guild's plain maps, shaped as
  Discord's own OpenAPI spec gives them (`UserResponse`,
  `GuildMemberResponse`, `GuildRoleResponse`, `GuildChannelResponse`,
  `GuildResponse`, `MessageResponse`, ...). The same objects go out over
  REST and inside gateway events.

  Libraries index required fields without checking them, so every field
  the spec requires is present, with its documented empty value (`nil`,
  `[]`, `0`, `%{}`) when there is no data. Optional fields that do not
  apply are left out rather than sent as `null` where the spec does not
  allow `null` (a text channel has no `bitrate`; a message without a nonce
  has no `nonce`). Snowflakes and permission bitfields are strings.

  The test suite validates these against the spec (`test/conformance/`).
  """

  alias Realtime.Snowflake

  @doc "A user object (`UserResponse`): what anyone may see of a user."
  @spec user(map) :: map
  def user(u) do
    %{
      "id" => to_string(u.id),
      "username" => u.username,
      "global_name" => u.global_name,
      "discriminator" => "0",
      "avatar" => nil,
      "bot" => u.bot,
      "system" => false,
      "banner" => nil,
      "accent_color" => nil,
      "flags" => 0,
      "public_flags" => 0,
      "avatar_decoration_data" => nil,
      "collectibles" => nil,
      "primary_guild" => nil
    }
  end

  @doc "The current user (`UserPIIResponse`): a user plus what only they see of themselves."
  @spec current_user(map) :: map
  def current_user(u) do
    Map.merge(user(u), %{"mfa_enabled" => false, "locale" => "en-US", "verified" => true, "email" => nil, "premium_type" => 0})
  end

  @doc "A guild member object (`GuildMemberResponse`), with its user."
  @spec member(map, map) :: map
  def member(m, u) do
    %{
      "user" => user(u),
      "nick" => m.nick,
      "avatar" => nil,
      "banner" => nil,
      "roles" => Enum.map(m.roles, &to_string/1),
      "joined_at" => m.joined_at,
      "premium_since" => nil,
      "deaf" => false,
      "mute" => false,
      "flags" => 0,
      "pending" => false,
      "communication_disabled_until" => nil,
      "avatar_decoration_data" => nil,
      "collectibles" => nil
    }
  end

  @doc "A role object (`GuildRoleResponse`)."
  @spec role(map) :: map
  def role(r) do
    %{
      "id" => to_string(r.id),
      "name" => r.name,
      "color" => r.color,
      "colors" => %{"primary_color" => r.color, "secondary_color" => nil, "tertiary_color" => nil},
      "hoist" => r.hoist,
      "icon" => nil,
      "unicode_emoji" => nil,
      "position" => r.position,
      "permissions" => to_string(r.permissions),
      "managed" => false,
      "mentionable" => false,
      "tags" => %{},
      "flags" => 0
    }
  end

  @doc """
  A guild channel object (`GuildChannelResponse`). Fields belong to the
  channel's type: text and announcement channels have a topic and a last
  message, voice channels a bitrate and user limit, categories neither.
  """
  @spec channel(map, integer, integer | nil) :: map
  def channel(c, guild_id, last_message_id \\ nil) do
    %{
      "id" => to_string(c.id),
      "type" => c.type,
      "guild_id" => to_string(guild_id),
      "position" => c.position,
      "permission_overwrites" =>
        Enum.map(c.permission_overwrites, fn o ->
          %{"id" => to_string(o.id), "type" => o.type, "allow" => to_string(o.allow), "deny" => to_string(o.deny)}
        end),
      "name" => c.name,
      "nsfw" => false,
      "parent_id" => c.parent_id && to_string(c.parent_id),
      "flags" => 0
    }
    |> Map.merge(channel_type_fields(c, last_message_id))
  end

  # Text (0) and announcement (5) channels.
  defp channel_type_fields(%{type: type} = c, last_message_id) when type in [0, 5] do
    %{
      "topic" => c[:topic],
      "last_message_id" => last_message_id && to_string(last_message_id),
      "last_pin_timestamp" => nil,
      "rate_limit_per_user" => 0
    }
  end

  # Voice (2) and stage (13) channels.
  defp channel_type_fields(%{type: type}, last_message_id) when type in [2, 13] do
    %{
      "bitrate" => 64_000,
      "user_limit" => 0,
      "rtc_region" => nil,
      "last_message_id" => last_message_id && to_string(last_message_id),
      "rate_limit_per_user" => 0
    }
  end

  defp channel_type_fields(_category, _last_message_id), do: %{}

  @doc "A guild object (`GuildResponse`): the guild itself, without members or channels."
  @spec guild(map) :: map
  def guild(g) do
    %{
      "id" => to_string(g.id),
      "name" => g.name,
      "icon" => nil,
      "description" => nil,
      "home_header" => nil,
      "splash" => nil,
      "discovery_splash" => nil,
      "features" => [],
      "banner" => nil,
      "owner_id" => to_string(g.owner_id),
      "application_id" => nil,
      # Voice regions are per channel now; Discord sends this placeholder.
      "region" => "deprecated",
      "afk_channel_id" => nil,
      "afk_timeout" => 300,
      "system_channel_id" => nil,
      "system_channel_flags" => 0,
      "widget_enabled" => false,
      "widget_channel_id" => nil,
      "verification_level" => 0,
      "roles" => g.roles |> Map.values() |> Enum.sort_by(& &1.position) |> Enum.map(&role/1),
      "default_message_notifications" => 0,
      "mfa_level" => 0,
      "explicit_content_filter" => 0,
      "max_presences" => nil,
      "max_members" => 500_000,
      "max_stage_video_channel_users" => 50,
      "max_video_channel_users" => 25,
      "vanity_url_code" => nil,
      "premium_tier" => 0,
      "premium_subscription_count" => 0,
      "preferred_locale" => "en-US",
      "rules_channel_id" => nil,
      "safety_alerts_channel_id" => nil,
      "public_updates_channel_id" => nil,
      "premium_progress_bar_enabled" => false,
      "nsfw" => false,
      "nsfw_level" => 0,
      "emojis" => [],
      "stickers" => [],
      "incidents_data" => nil
    }
  end

  @doc """
  The guild object of GUILD_CREATE: `guild/1` plus the gateway-only fields,
  with the given `members` and `channels` (already rendered); `user_of`
  finds a member's user, and `opts` carries the session's `:joined_at`,
  whether the guild is `:large`, and the `:presences`.
  """
  @spec guild_create(map, [map], [map], (integer -> map), keyword) :: map
  def guild_create(g, members, channels, user_of, opts) do
    Map.merge(guild(g), %{
      "joined_at" => opts[:joined_at],
      "large" => opts[:large],
      "unavailable" => false,
      "member_count" => map_size(g.members),
      "voice_states" => [],
      "members" => Enum.map(members, &member(&1, user_of.(&1.user_id))),
      "channels" => channels,
      "threads" => [],
      "presences" => Keyword.get(opts, :presences, []),
      "stage_instances" => [],
      "guild_scheduled_events" => [],
      "soundboard_sounds" => []
    })
  end

  @doc """
  A message object (`MessageResponse`) as `viewer_id` sees it (reactions
  say whether the viewer reacted; `nil` for no one). Optional fields that
  do not apply (nonce, thread, message_reference, webhook_id, reactions
  when there are none) are left out, as Discord does.
  """
  @spec message(map, integer | nil) :: map
  def message(m, viewer_id \\ nil) do
    mentions = Map.get(m, :mentions, %{users: [], roles: [], everyone: false})

    %{
      "id" => to_string(m.id),
      "channel_id" => to_string(m.channel_id),
      "guild_id" => to_string(m.guild_id),
      "author" => user(m.author),
      "content" => m.content,
      "timestamp" => Snowflake.timestamp(m.id),
      "edited_timestamp" => m[:edited],
      "tts" => false,
      "mention_everyone" => mentions.everyone,
      "mentions" => Enum.map(mentions.users, &user/1),
      "mention_roles" => Enum.map(mentions.roles, &to_string/1),
      "attachments" => [],
      "embeds" => [],
      "pinned" => false,
      "type" => 0,
      "flags" => 0,
      "components" => [],
      "sticker_items" => []
    }
    |> put_present("member", m.member && Map.delete(member(m.member, m.author), "user"))
    |> put_present("nonce", m.nonce)
    |> put_present("reactions", reactions(Map.get(m, :reactions, []), viewer_id))
  end

  defp reactions([], _viewer), do: nil

  defp reactions(list, viewer) do
    for {emoji, users} <- list do
      %{
        "emoji" => emoji,
        "count" => MapSet.size(users),
        "count_details" => %{"burst" => 0, "normal" => MapSet.size(users)},
        "burst_colors" => [],
        "me_burst" => false,
        "me" => MapSet.member?(users, viewer)
      }
    end
  end

  defp put_present(map, _key, nil), do: map
  defp put_present(map, key, value), do: Map.put(map, key, value)

  @doc "The current application (`PrivateApplicationResponse`), whose bot is `bot`."
  @spec application(map, map) :: map
  def application(app, bot) do
    %{
      "id" => to_string(app.id),
      "name" => app.name,
      "icon" => nil,
      "description" => app.description,
      "type" => nil,
      "bot" => user(bot),
      "owner" => user(bot),
      "team" => nil,
      "rpc_origins" => [],
      "bot_public" => true,
      "bot_require_code_grant" => false,
      "verify_key" => String.duplicate("0", 64),
      "flags" => app.flags,
      "flags_new" => to_string(app.flags),
      "tags" => [],
      "redirect_uris" => [],
      "interactions_endpoint_url" => nil,
      "role_connections_verification_url" => nil,
      "approximate_guild_count" => Map.get(app, :guild_count, 0),
      "approximate_user_install_count" => 0,
      "approximate_user_authorization_count" => 0,
      "explicit_content_filter" => 0,
      "eligible_oauth2_scopes" => []
    }
  end
end
