"""Reference counties named in the project brief and the Faker demo-data generator."""
