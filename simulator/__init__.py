"""The household simulator: realistic residents, devices, noise and incidents."""
