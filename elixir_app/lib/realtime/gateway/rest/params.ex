defmodule Realtime.Gateway.Rest.Params do
  @moduledoc """
  Query-string parameters checked the way Discord checks them. A bad value
  is `{:error, {:invalid_form, field, message}}`, which the REST handler
  answers with 400 and Discord's form error body naming the field and
  saying what is wrong with it, in Discord's words. Pure.
  """

  @type query :: [{String.t(), String.t() | true}]
  @type form_error :: {:invalid_form, String.t(), String.t()}

  @doc """
  An integer parameter in `min..max`, `default` when absent.
  """
  @spec integer(query, String.t(), integer, integer, integer) :: {:ok, integer} | {:error, form_error}
  def integer(query, name, default, min, max) do
    case value(query, name) do
      nil ->
        {:ok, default}

      raw ->
        case Integer.parse(raw) do
          {n, ""} when n < min -> form(name, "int value should be greater than or equal to #{min}.")
          {n, ""} when n > max -> form(name, "int value should be less than or equal to #{max}.")
          {n, ""} -> {:ok, n}
          _ -> form(name, "Value \"#{printable(raw)}\" is not int.")
        end
    end
  end

  @doc "A snowflake parameter (a non-negative 64-bit integer), `nil` when absent."
  @spec snowflake(query, String.t()) :: {:ok, non_neg_integer | nil} | {:error, form_error}
  def snowflake(query, name) do
    case value(query, name) do
      nil ->
        {:ok, nil}

      raw ->
        case Integer.parse(raw) do
          {n, ""} when n >= 0 and n < 0x1_0000_0000_0000_0000 -> {:ok, n}
          _ -> form(name, "Value \"#{printable(raw)}\" is not snowflake.")
        end
    end
  end

  @doc "A boolean parameter (`true`/`false`, `1`/`0`, any case), `default` when absent."
  @spec boolean(query, String.t(), boolean) :: {:ok, boolean} | {:error, form_error}
  def boolean(query, name, default) do
    case value(query, name) do
      nil -> {:ok, default}
      raw -> raw |> String.downcase() |> to_boolean(name, raw)
    end
  end

  defp to_boolean(v, _name, _raw) when v in ["true", "1"], do: {:ok, true}
  defp to_boolean(v, _name, _raw) when v in ["false", "0"], do: {:ok, false}
  defp to_boolean(_v, name, raw), do: form(name, "Value \"#{printable(raw)}\" is not boolean.")

  @doc """
  Which page of channel history a query asks for: `around`, else `before`,
  else `after` (Discord documents them as exclusive and takes one), else
  the latest messages.
  """
  @spec history_page(query) :: {:ok, Realtime.Guild.Messages.page()} | {:error, form_error}
  def history_page(query) do
    with {:ok, around} <- snowflake(query, "around"),
         {:ok, before} <- snowflake(query, "before"),
         {:ok, after_id} <- snowflake(query, "after") do
      cond do
        around -> {:ok, {:around, around}}
        before -> {:ok, {:before, before}}
        after_id -> {:ok, {:after, after_id}}
        true -> {:ok, :latest}
      end
    end
  end

  # A flag without a value (`?with_counts`) reads as "true"; a repeated one,
  # as its last value.
  defp value(query, name) do
    case for({^name, v} <- query, do: v) |> List.last() do
      true -> "true"
      v -> v
    end
  end

  # Echo at most a short, printable prefix of what was sent.
  defp printable(raw) do
    raw = String.slice(raw, 0, 32)
    if String.printable?(raw), do: raw, else: inspect(raw)
  end

  defp form(name, message), do: {:error, {:invalid_form, name, message}}
end
