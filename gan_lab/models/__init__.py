"""Model builders: functions that return keras.Model."""
